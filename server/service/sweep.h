/* sweep.h — what a sweep means, private to server/service: reading and validating a sweep's
 * specification ({"name", "base", "grid", "metric"}) into the runs of its grid (every value
 * and every point checked by the run configuration parser, exactly as POST /v1/runs checks a
 * body, before anything is stored), enumerating the grid's points in a fixed order, and the
 * table over seeds that GET /v1/sweeps/{id} shows (rows, Student's t and bootstrap
 * intervals, paired differences) with its CSV form. It knows cJSON and the store's rows, not
 * HTTP or SQL. */
#ifndef GS_SERVICE_SWEEP_H
#define GS_SERVICE_SWEEP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "gs/err.h"
#include "gs/store.h"

/* The most points a sweep may have: each is a training run of minutes to hours. */
#define SWEEP_MAX_POINTS 256
/* The most keys in a grid and values of one key. */
#define SWEEP_MAX_KEYS 16
#define SWEEP_MAX_VALUES 64
/* The most grids a sweep's "grid" array may hold. */
#define SWEEP_MAX_GRIDS 16

/* A validated sweep, ready for store_sweep_insert: its runs (configs as POST /v1/runs would
 * store them, names made from the point's values) and the run of each point. */
typedef struct {
    char name[128];
    char metric[48];
    char *spec_json;        /* the specification as stored: the grid always as an array */
    StoreNewRun *runs;      /* n_runs; method, name and config_json malloc'd */
    int n_runs;
    int *run_of;            /* n_points */
    int n_points;
} SweepPlan;

/* Where a specification went wrong: the field (a JSON path such as "grid.simclr.batch" or
 * "base.seed"; empty when it is the body as a whole) and err's message naming it. */
typedef struct {
    char field[128];
    bool bad_json;          /* the body is not a JSON object at all */
    bool forbidden;         /* a dataset outside the data root (403) */
} SweepError;

/* Reads the body (len bytes) into plan: every grid value set into the base configuration and
 * parsed alone, then every point parsed whole and its dataset checked (data_root, as
 * POST /v1/runs does); threads clamped to max_threads (> 0). 0, or -1 with err and *where
 * set and nothing allocated. */
int sweep_plan(const char *body, size_t len, const char *data_root, int max_threads,
               SweepPlan *plan, SweepError *where, GsErr *err);
void sweep_plan_free(SweepPlan *plan);

/* The result fields a sweep may summarise (the keys of a run's "result" object), and whether
 * a metric is a fraction shown in percentage points. */
extern const char *const SWEEP_METRICS[];
bool sweep_metric_is_fraction(const char *metric);

/* The sweep object of GET /v1/sweeps/{id}: its row, status counts, the table over seeds, the
 * paired differences and its runs (points in point order, from store_sweep_points). with_table
 * false gives the short form of the list. NULL when memory ran out or the stored
 * specification cannot be read (err set). */
cJSON *sweep_json(const StoreSweep *sw, const StoreSweepPoint *points, int n_points,
                  bool with_table, GsErr *err);
/* The table of a sweep_json object as CSV (malloc'd): a header line, then a line per row.
 * NULL when memory ran out. */
char *sweep_table_csv(const cJSON *sweep);

#endif
