/* watch.h — following a run over the network: GET /v1/runs/{id}/events read to the run's end,
 * reconnecting when the stream drops. What is shown is progress.h's business; this module only
 * feeds it. */
#ifndef GS_CLI_WATCH_H
#define GS_CLI_WATCH_H

#include <stdbool.h>

#include "cli.h"

/* Follows run id's event stream until it ends (watch, submit --wait); returns the exit code
 * by the run's final status. final_json: print only the final run object (submit --wait
 * --json) instead of the events. */
int cli_watch_run(Cli *cli, long id, bool final_json);

#endif
