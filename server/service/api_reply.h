/* api_reply.h — how every route of gsimclrd answers: error objects, JSON and raw bodies, JSON
 * values (numbers that may be NaN, times, ids), path ids and query integers. The bottom of the
 * api*.c files: it knows HTTP responses and cJSON, not the Api object, the store or the runs. */
#ifndef GS_API_REPLY_H
#define GS_API_REPLY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs/err.h"
#include "gs/http.h"

/* ---- answers ---- */

/* Every error answer: {"error": {"code", "message", "field"?}}. field may be NULL. An answer
 * already half built in resp is dropped. */
void api_error(HttpResponse *resp, int status, const char *code, const char *field,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prints root (taken, deleted) as the body with the given status; 500 when printing fails. */
void api_reply_json(HttpResponse *resp, int status, cJSON *root);
/* Body taken (malloc'd) with a static content type. */
void api_reply_body(HttpResponse *resp, int status, const char *content_type, char *body,
                    size_t len);
/* A store call failed: 500 internal, naming what was being done. */
void api_store_error(HttpResponse *resp, const char *what, const GsErr *err);
/* After rc from a store call about run id: 404 for STORE_NOT_FOUND, else 500. */
void api_run_lookup_error(HttpResponse *resp, int rc, int64_t id, const char *what,
                          const GsErr *err);
/* 507: the store cannot write (store_writable), so nothing new is accepted. */
void api_store_full(HttpResponse *resp);
/* "application/json", in any case, optionally followed by parameters (";charset=utf-8"). */
bool api_is_json_type(const char *content_type);
/* Client text echoed in a message: at most cap - 4 bytes of printable ASCII (then "..."), so
 * the answer stays short and valid UTF-8 whatever was sent. Returns out. */
const char *api_shown(char *out, size_t cap, const char *s, size_t n);

/* ---- JSON values ---- */

/* A number, or null when it is not finite. */
cJSON *api_num(double v);
void api_add_num(cJSON *obj, const char *name, double v);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of unix seconds t; null when t is not a positive finite time. */
void api_add_time(cJSON *obj, const char *name, double t);
void api_time_text(double t, char out[32]);
/* An int64 in a double is exact up to 2^53, more than any id the store will hand out. */
void api_add_id(cJSON *obj, const char *name, int64_t id);
/* Seconds on the monotonic and the wall clock. */
double api_mono(void);
double api_wall(void);

/* ---- parsing ---- */

/* A decimal integer of 1..19 digits without sign or leading zero that fits int64 (0 allowed). */
bool api_parse_uint(const char *s, size_t len, int64_t *out);
/* A path id: as api_parse_uint, and positive. */
bool api_parse_id(const char *s, size_t len, int64_t *out);
/* Any segment (a name, checked by its handler): *out is its length. */
bool api_parse_segment(const char *s, size_t len, int64_t *out);
/* A query argument that must be an integer in lo..hi; absent gives def. false (and a 400
 * answered) when present and not such an integer. */
bool api_query_int(const HttpRequest *rq, HttpResponse *resp, const char *key, long lo,
                   long hi, long def, long *out);

#endif
