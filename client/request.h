/* request.h — the steps every subcommand repeats around an HTTP call: report "no answer"
 * (exit 3) and error answers (exit 4, "gsimclr: MESSAGE (field FIELD)") on stderr, parse a
 * JSON answer without trusting it, print JSON for --json, and save a download atomically
 * (a temporary file renamed into place, removed on failure). */
#ifndef GS_CLI_REQUEST_H
#define GS_CLI_REQUEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "http.h"

/* A call whose 2xx answer must be a JSON object or array (or empty when allow_empty):
 * CLI_OK with *out set (NULL for an empty body) and resp kept (the caller frees both), or an
 * exit code after printing why. */
int cli_call_json(Cli *cli, const char *method, const char *path, const char *body,
                  bool allow_empty, cJSON **out, CliResponse *resp);
/* GET of path into file ("-" = standard output): CLI_OK and *bytes, or an exit code after
 * printing why (a partly written file is removed). */
int cli_save(Cli *cli, const char *path, const char *file, size_t *bytes);
/* Prints an answer's JSON text as it came, ending with a newline. */
void cli_print_body(const CliResponse *resp);
/* Prints v as one line of JSON. */
void cli_print_json(const cJSON *v);
/* "/v1/runs/ID..." query helper: appends "&key=value" (or "?key=value" for the first) with
 * value percent-encoded; -1 when it does not fit or memory ran out. */
int cli_query_add(char *path, size_t n, const char *key, const char *value);

#endif
