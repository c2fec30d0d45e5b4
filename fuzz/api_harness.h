/* api_harness.h — the API under fuzzing, without sockets and without training: api_handle (the
 * function http.c calls for a finished request) over a real store in a temporary folder,
 * seeded with runs in every state, and a job queue that no worker serves (service_stubs.c).
 * Every input starts from that same seeded store: after an input that changed it (any method
 * but GET and HEAD, unless refused with a 4xx, which promises no change and is checked for
 * it), the next one gets a fresh copy. Each answer is checked
 * against what docs/API.md promises of every answer (see fuzz_api_request). */
#ifndef GS_FUZZ_API_HARNESS_H
#define GS_FUZZ_API_HARNESS_H

#include "gs/api.h"
#include "gs/http.h"

/* The decoded query of a request (what libmicrohttpd would hand http_query): the first
 * value of a key wins, a key without '=' has no value. HttpRequest.conn_ points to it. */
#define FUZZ_MAX_QUERY 16
typedef struct {
    int n;
    const char *key[FUZZ_MAX_QUERY], *value[FUZZ_MAX_QUERY];
} FuzzQuery;

/* The daemon's three kinds of access: no token; a token for calls that change state; a token
 * for every call (listening beyond loopback). Each also accepts Host "gsimclr.test". */
enum { FUZZ_API_OPEN, FUZZ_API_TOKEN, FUZZ_API_TOKEN_READS, FUZZ_API_COUNT };
#define FUZZ_TOKEN "fuzz-token"

/* Builds the seeded store and the data root once (LLVMFuzzerInitialize). */
void fuzz_api_init(void);
/* Call at the start of every input: restores the seeded store if the last input may have
 * changed it. */
void fuzz_api_begin(void);
/* Runs rq (its conn_ set to q, which may be NULL) through api_handle of API variant, reads a
 * stream answer a few times, checks the answer and returns its status. */
int fuzz_api_request(int variant, HttpRequest *rq, FuzzQuery *q);

/* service_stubs.c: the job queue the API is given, with no workers; run `running` (0: none)
 * shows the given live progress. */
Jobs *fuzz_jobs_create(int64_t running, const StageProgress *live);
void fuzz_jobs_free(Jobs *j);

#endif
