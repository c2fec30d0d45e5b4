/* fuzz_config.c — libFuzzer target `config`: run_config_parse (gs/config.h) on any bytes. A
 * refusal must carry a message; an accepted configuration must keep config.h's promise that
 * parsing run_config_to_json's text gives the same configuration (the same text again). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RunConfig cfg, again;
    GsErr err;
    err.msg[0] = 0;
    if (run_config_parse(&cfg, (const char *)data, size, &err) != 0) {
        if (!err.msg[0])
            fuzz_fail("run_config_parse refused the input without a message");
        return 0;
    }
    char *json = run_config_to_json(&cfg);
    if (!json)
        return 0; /* out of memory: a clean answer */
    if (run_config_parse(&again, json, strlen(json), &err) != 0)
        fuzz_fail("run_config_to_json's text does not parse back: %s\n%s", err.msg, json);
    char *json2 = run_config_to_json(&again);
    if (json2 && strcmp(json, json2) != 0)
        fuzz_fail("a configuration changed through JSON and back:\n%s\n%s", json, json2);
    free(json);
    free(json2);
    return 0;
}
