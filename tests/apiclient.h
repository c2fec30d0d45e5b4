/* apiclient.h — a small libcurl client for the black-box tests of gsimclrd: one request in,
 * status, body and headers out, with nothing smoothed over (paths are sent as written, so
 * "/../x" reaches the server; any header may be set, Host included). Also a streaming GET for
 * Server-Sent Events that stops once a given text has arrived. Thread-safe. */
#ifndef GS_TEST_APICLIENT_H
#define GS_TEST_APICLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct {
    long status;        /* HTTP status, 0 when the request failed */
    char *body;         /* NUL-terminated (len bytes before the NUL), never NULL after a call */
    size_t len;
    char *headers;      /* the raw response header lines */
    int curl_code;      /* CURLcode, 0 when the exchange completed */
    char curl_error[256];
} ApiResp;

/* method and path (with any query) against http://127.0.0.1:port. body (body_len bytes) is
 * sent when not NULL; headers is a NULL-terminated list of "Name: value" lines (or NULL).
 * Returns 0 when a response arrived (any status), -1 otherwise. */
int apic_request(int port, const char *method, const char *path, const void *body,
                 size_t body_len, const char *const *headers, ApiResp *out);

/* A JSON call: Content-Type: application/json when body is not NULL, and
 * "Authorization: Bearer token" when token is not NULL. */
int apic_json(int port, const char *method, const char *path, const char *body,
              const char *token, ApiResp *out);

/* A GET that reads the response as it streams, until `until` appears in the body (NULL: until
 * the server closes) or timeout_s seconds pass. 0 when `until` was seen or the stream ended
 * normally. */
int apic_stream(int port, const char *path, const char *const *headers, const char *until,
                double timeout_s, ApiResp *out);

/* The value of response header `name` (case-insensitive) copied into buf; NULL when absent. */
const char *apic_header(const ApiResp *r, const char *name, char *buf, size_t cap);

void apic_free(ApiResp *r);

/* Waits on run id by polling GET /v1/runs/{id} until done(run, arg) is true, and returns
 * that run object (the caller deletes it). The wait follows the run, not a clock: a busy
 * machine (CI may share it) slows a run but does not stall it, so the wait gives up only when
 * the run has shown no sign of life (its status, progress and every stage's status, epoch and
 * step unchanged; a queued run counts as alive) for stall_s seconds, when it cannot be read,
 * or after half an hour. Then it returns NULL and says why on stderr. */
cJSON *apic_wait_run(int port, int64_t id, bool (*done)(const cJSON *run, void *arg),
                     void *arg, double stall_s);

/* done() for apic_wait_run: the run's status is succeeded, failed or canceled. */
bool apic_run_ended(const cJSON *run, void *arg);

#endif
