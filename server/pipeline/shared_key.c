/* shared_key.c — pipeline_shared_key: the text that says what a run's autoencoder or k-means
 * stage will compute, so that runs with equal texts can share one computation. It is built by
 * blanking what cannot change the stage (the later stages' settings, the name, the method,
 * the test subset) and printing the rest of the configuration, rather than by listing what
 * matters: a field added to the configuration later is part of the key until someone proves
 * it irrelevant. It decides nothing about storing or reusing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs/version.h"
#include "stage.h"

char *pipeline_shared_key(const RunConfig *cfg, int stage)
{
    if (cfg->method != METHOD_GSIMCLR || (stage != STAGE_DAE && stage != STAGE_KMEANS))
        return NULL;
    RunConfig key, def;
    run_config_defaults(&def);
    memcpy(&key, cfg, sizeof key);
    key.name[0] = '\0';
    key.test_subset = 0;            /* eval only */
    key.simclr = def.simclr;
    key.eval = def.eval;
    if (stage == STAGE_DAE)
        key.kmeans = def.kmeans;
    char *json = run_config_to_json(&key);
    if (!json)
        return NULL;
    /* the version: a stage computed by another build may not be what this one computes */
    size_t n = strlen(json) + 64;
    char *text = malloc(n);
    if (text)
        snprintf(text, n, "gsimclr %s %s %s", GS_VERSION, STAGE_NAMES[stage], json);
    free(json);
    return text;
}
