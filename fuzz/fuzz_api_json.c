/* fuzz_api_json.c — libFuzzer target `api_json`: the JSON bodies the API accepts, through the
 * real handler: each input is the body of POST /v1/runs and then of POST /v1/sweeps
 * (Content-Type application/json, Host localhost) given to api_handle over the seeded store
 * (api_harness.c). The answer must be 201 with the stored run or sweep, or a 4xx error naming
 * the problem with nothing stored; api_harness.c checks the shape of every answer. (A new JSON
 * body of the API gets a line here.) */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "api_harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_api_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_api_begin();
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = 0;
    HttpRequest rq = {
        .method = "POST",
        .path = "/v1/runs",
        .body = body,
        .body_len = size,
        .content_type = "application/json",
        .host = "localhost",
    };
    static const char *const paths[] = {"/v1/runs", "/v1/sweeps"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        rq.path = paths[i];
        int status = fuzz_api_request(FUZZ_API_OPEN, &rq, NULL);
        if (status != 201 && status != 400 && status != 403)
            fuzz_fail("POST %s answered %d", paths[i], status);
    }
    free(body);
    return 0;
}
