/* runconf.h — building the run configuration that `gsimclr submit` posts: a config file (or
 * an empty object), then the option overrides in command-line order, each a dotted path and a
 * value (`--set simclr.temperature=0.2`, `--epochs 5` = simclr.epochs). Values typed on the
 * command line are guessed: true/false/null, a JSON number, a JSON array/object/string when
 * they start with [ { or ", else a plain string. The daemon validates the result; this only
 * builds it. Pure cJSON, no network. */
#ifndef GS_CLI_RUNCONF_H
#define GS_CLI_RUNCONF_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define CLI_CONFIG_MAX_FILE (1u << 20) /* the daemon's default --max-body */

/* The cJSON value a command-line text stands for; NULL with a message in err when it starts
 * like JSON but is not valid, or when memory ran out. */
cJSON *cli_value_parse(const char *text, char *err, size_t errlen);
/* Sets root[path] (dotted: "simclr.encoder.width") to value, creating objects on the way and
 * replacing what was there. Always takes value (frees it on failure). 0, or -1 with err set
 * when a path part is empty or an existing part on the way is not an object. */
int cli_config_set(cJSON *root, const char *path, cJSON *value, char *err, size_t errlen);
/* "path=value" as above. */
int cli_config_assign(cJSON *root, const char *assignment, char *err, size_t errlen);
/* Reads a config file ("-" = standard input), at most CLI_CONFIG_MAX_FILE bytes, that must
 * hold one JSON object. NULL with err set otherwise. */
cJSON *cli_config_load(const char *path, char *err, size_t errlen);

#endif
