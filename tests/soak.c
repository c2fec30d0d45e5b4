/* soak.c — the crash soak (soak.h): twins, trials, and the comparison of a disturbed run
 * with its twin, read from each daemon's database through a read-only SQLite connection (the
 * store's tables as the store writes them; nothing here writes). */
#define _DEFAULT_SOURCE /* usleep */
#include "soak.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "daemonproc.h"
#include "gs/pipeline.h"

const char *const SOAK_METHOD_NAMES[SOAK_METHODS] = {"gsimclr", "simclr"};

/* The stage names as the API and the store's rows use them (STAGE_* order). */
static const char *const STAGE[STAGE_COUNT] = {"dae", "kmeans", "simclr", "eval"};

/* The small run: 600 images, an autoencoder of 2 epochs, k-means with k = 48, 3
 * SimCLR epochs of 50 steps (a step_loss every 20), a checkpoint after each epoch. One
 * thread, so a loaded machine slows it evenly and the results stay bit-identical. */
#define SOAK_COMMON                                                                        \
    "\"subset\": 600, \"subset_random\": true, \"test_subset\": 300, \"threads\": 1,"      \
    " \"dae\": {\"filters\": [8, 16, 32], \"epochs\": 2, \"batch\": 32},"                  \
    " \"kmeans\": {\"k\": 48, \"n_init\": 8},"                                             \
    " \"simclr\": {\"encoder\": {\"arch\": \"cnn3\", \"width\": 8, \"head\": [32, 16]},"   \
    "              \"epochs\": 3, \"batch\": 12, \"checkpoint_every\": 1},"                \
    " \"eval\": {\"linear\": {\"epochs\": 3}, \"knn_k\": 20}}"
static const char *const CONFIGS[SOAK_METHODS] = {
    "{\"name\": \"soak gsimclr\", \"method\": \"gsimclr\", " SOAK_COMMON,
    "{\"name\": \"soak simclr\", \"method\": \"simclr\", " SOAK_COMMON,
};

/* A run that shows no sign of life for this long has stalled; a busy machine only slows it. */
#define STALL_S 120.0

/* Metrics that measure the machine, not the run: present in both, values not compared. */
static bool is_timing(const char *name)
{
    return strcmp(name, "images_per_s") == 0;
}

struct Soak {
    bool have[SOAK_METHODS];
    Daemon twin[SOAK_METHODS];
    char *view[SOAK_METHODS];
    SoakTwinInfo info[SOAK_METHODS];
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Appends to a report of cap bytes. */
static void say(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strnlen(buf, cap);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* ---- what a run left in its database ------------------------------------------------- */

/* The result JSON without its timings (keys ending in _seconds), printed compactly. */
static char *result_without_timings(const char *json)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!o)
        return strdup(json ? json : "null");
    cJSON *it = o->child;
    while (it) {
        cJSON *next = it->next;
        size_t n = it->string ? strlen(it->string) : 0;
        if (n >= 8 && strcmp(it->string + n - 8, "_seconds") == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(o, it));
        it = next;
    }
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

static void put_real(FILE *f, sqlite3_stmt *s, int col)
{
    if (sqlite3_column_type(s, col) == SQLITE_NULL)
        fputs("null", f);
    else
        fprintf(f, "%.17g", sqlite3_column_double(s, col));
}

/* A log line without what measures the machine: the text up to its first ',' or '(' (the
 * images per second, the seconds a stage took). */
static void put_log_text(FILE *f, const char *msg)
{
    size_t n = strcspn(msg, ",(");
    while (n > 0 && msg[n - 1] == ' ')
        n--;
    fprintf(f, "%.*s", (int)n, msg);
}

/* Everything of run id in the database at db_path that an undisturbed twin must share, as
 * lines of text (malloc'd), with a "DUPLICATE" line for each metric stored twice; info
 * (may be NULL) gets the figures a trial planner needs. NULL with why set when the database
 * cannot be read or fails its integrity check. */
static char *run_view(const char *db_path, int64_t id, SoakTwinInfo *info, char *why, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    bool ok = false;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        say(why, cap, "open %s: %s", db_path, db ? sqlite3_errmsg(db) : "no memory");
        goto done;
    }
    sqlite3_busy_timeout(db, 5000);
    f = open_memstream(&text, &len);
    if (!f) {
        say(why, cap, "out of memory");
        goto done;
    }
#define PREP(sql)                                                                         \
    do {                                                                                  \
        sqlite3_finalize(s);                                                              \
        s = NULL;                                                                         \
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||                     \
            (sqlite3_bind_parameter_count(s) > 0 && sqlite3_bind_int64(s, 1, id))) {      \
            say(why, cap, "%s: %s", sql, sqlite3_errmsg(db));                             \
            goto done;                                                                    \
        }                                                                                 \
    } while (0)

    PREP("PRAGMA integrity_check");
    while (sqlite3_step(s) == SQLITE_ROW)
        if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
            say(why, cap, "integrity_check: %s", (const char *)sqlite3_column_text(s, 0));
            goto done;
        }
    PREP("PRAGMA foreign_key_check");
    if (sqlite3_step(s) == SQLITE_ROW) {
        say(why, cap, "foreign_key_check: a row of %s has no parent",
            (const char *)sqlite3_column_text(s, 0));
        goto done;
    }

    PREP("SELECT status, error, result FROM runs WHERE id = ?1");
    if (sqlite3_step(s) != SQLITE_ROW) {
        say(why, cap, "run %" PRId64 " is not in %s", id, db_path);
        goto done;
    }
    char *result = result_without_timings((const char *)sqlite3_column_text(s, 2));
    fprintf(f, "status %s\nerror %s\nresult %s\n", (const char *)sqlite3_column_text(s, 0),
            sqlite3_column_type(s, 1) == SQLITE_NULL ? "-" : (const char *)sqlite3_column_text(s, 1),
            result ? result : "?");
    free(result);

    PREP("SELECT stage, status, epoch, epochs, step, steps, loss, seconds FROM stages "
         "WHERE run_id = ?1 ORDER BY stage");
    while (sqlite3_step(s) == SQLITE_ROW) {
        int st = sqlite3_column_int(s, 0);
        fprintf(f, "stage %s %s epoch %d/%d step %lld/%lld loss ",
                st >= 0 && st < STAGE_COUNT ? STAGE[st] : "?",
                (const char *)sqlite3_column_text(s, 1), sqlite3_column_int(s, 2),
                sqlite3_column_int(s, 3), (long long)sqlite3_column_int64(s, 4),
                (long long)sqlite3_column_int64(s, 5));
        put_real(f, s, 6);
        fputc('\n', f);
        if (info && st >= 0 && st < STAGE_COUNT) {
            info->steps[st] = (long)sqlite3_column_int64(s, 4);
            info->epochs[st] = sqlite3_column_int(s, 2);
            info->seconds[st] = sqlite3_column_double(s, 7);
        }
    }

    /* metrics in position order; a key seen twice in a row is a duplicate */
    PREP("SELECT stage, epoch, step, name, value FROM metrics WHERE run_id = ?1 ORDER BY "
         "stage, epoch, CASE WHEN step < 0 THEN 9223372036854775807 ELSE step END, name, id");
    char prev[128] = "";
    int n_metrics = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        int st = sqlite3_column_int(s, 0);
        const char *name = (const char *)sqlite3_column_text(s, 3);
        char key[128];
        snprintf(key, sizeof key, "%s %d %lld %s", st >= 0 && st < STAGE_COUNT ? STAGE[st] : "?",
                 sqlite3_column_int(s, 1), (long long)sqlite3_column_int64(s, 2), name);
        if (strcmp(key, prev) == 0)
            fprintf(f, "DUPLICATE metric %s\n", key);
        snprintf(prev, sizeof prev, "%s", key);
        fprintf(f, "metric %s ", key);
        if (is_timing(name))
            fputs("(timing)", f);
        else
            put_real(f, s, 4);
        fputc('\n', f);
        n_metrics++;
    }

    /* the pseudo-labels: their position and a digest of every (image, cluster, label) */
    PREP("SELECT stage, epoch, step FROM assignment_sets WHERE run_id = ?1");
    if (sqlite3_step(s) == SQLITE_ROW)
        fprintf(f, "labels at %s %d %lld\n", STAGE[sqlite3_column_int(s, 0) & 3],
                sqlite3_column_int(s, 1), (long long)sqlite3_column_int64(s, 2));
    PREP("SELECT image, cluster, coalesce(label, -1) FROM assignments WHERE run_id = ?1 "
         "ORDER BY image");
    uint64_t h = 0xcbf29ce484222325ull;
    long n_labels = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        for (int c = 0; c < 3; c++) {
            h ^= (uint64_t)sqlite3_column_int64(s, c);
            h *= 0x100000001b3ull;
        }
        n_labels++;
    }
    if (n_labels)
        fprintf(f, "labels n %ld digest %016" PRIx64 "\n", n_labels, h);

    /* the pipeline's log lines, in order; a resume's own line is the resume's, not the run's */
    PREP("SELECT stage, epoch, step, message FROM events WHERE run_id = ?1 AND kind = 'log' "
         "ORDER BY id");
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(s, 3);
        if (strncmp(msg, "resuming", 8) == 0)
            continue;
        int st = sqlite3_column_int(s, 0);
        fprintf(f, "log %s %d %lld ", st >= 0 && st < STAGE_COUNT ? STAGE[st] : "?",
                sqlite3_column_int(s, 1), (long long)sqlite3_column_int64(s, 2));
        put_log_text(f, msg);
        fputc('\n', f);
    }

    if (info) {
        info->metrics = n_metrics;
        info->checkpoints = 0;
    }
    ok = true;
#undef PREP
done:
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (f)
        fclose(f);
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

/* The lines of a that are not in b (at most max, each with prefix), into report. Both texts
 * are of a few hundred lines: the quadratic walk is cheap. */
static int lines_missing(const char *a, const char *b, const char *prefix, int max, char *report,
                         size_t cap)
{
    int shown = 0;
    for (const char *p = a; *p && shown < max;) {
        size_t n = strcspn(p, "\n");
        bool found = false;
        for (const char *q = b; *q && !found;) {
            size_t m = strcspn(q, "\n");
            found = m == n && memcmp(p, q, n) == 0;
            q += m + (q[m] == '\n');
        }
        if (!found) {
            say(report, cap, "    %s %.*s\n", prefix, (int)(n < 200 ? n : 200), p);
            shown++;
        }
        p += n + (p[n] == '\n');
    }
    return shown;
}

/* ---- twins ------------------------------------------------------------------------------ */

static int twin_train(Soak *s, SoakMethod m, char *why, size_t cap)
{
    Daemon *d = &s->twin[m];
    char status[32], db[256];
    if (dproc_mkdir(d) != 0 || dproc_start(d) != 0) {
        say(why, cap, "the twin's daemon did not start");
        return -1;
    }
    long http = 0;
    int64_t id = dproc_submit(d->port, CONFIGS[m], &http);
    if (id <= 0) {
        say(why, cap, "submitting the %s twin answered %ld", SOAK_METHOD_NAMES[m], http);
        return -1;
    }
    if (strcmp(dproc_wait_done(d->port, id, STALL_S, status, sizeof status), "succeeded") != 0) {
        say(why, cap, "the %s twin ended %s (see %s)", SOAK_METHOD_NAMES[m], status, d->log);
        return -1;
    }
    if (dproc_signal(d, SIGTERM, 60) != 0) {
        say(why, cap, "the twin's daemon did not stop cleanly");
        return -1;
    }
    snprintf(db, sizeof db, "%s/gsimclr.db", d->db);
    SoakTwinInfo *info = &s->info[m];
    memset(info, 0, sizeof *info);
    s->view[m] = run_view(db, id, info, why, cap);
    if (!s->view[m])
        return -1;
    /* every epoch of dae and simclr ends with a checkpoint here, and kmeans has one */
    info->checkpoints = (int)(info->epochs[STAGE_DAE] + (info->steps[STAGE_KMEANS] > 0) +
                              info->epochs[STAGE_SIMCLR]);
    s->have[m] = true;
    return 0;
}

int soak_open(Soak **out, bool gsimclr, bool simclr, char *why, size_t cap)
{
    *out = NULL;
    Soak *s = calloc(1, sizeof *s);
    if (!s) {
        say(why, cap, "out of memory");
        return -1;
    }
    if ((gsimclr && twin_train(s, SOAK_GSIMCLR, why, cap) != 0) ||
        (simclr && twin_train(s, SOAK_SIMCLR, why, cap) != 0)) {
        soak_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void soak_close(Soak *s)
{
    if (!s)
        return;
    for (int m = 0; m < SOAK_METHODS; m++) {
        if (s->twin[m].dir[0])
            dproc_cleanup(&s->twin[m]);
        free(s->view[m]);
    }
    free(s);
}

const SoakTwinInfo *soak_twin(const Soak *s, SoakMethod m)
{
    return s->have[m] ? &s->info[m] : NULL;
}

/* ---- one trial -------------------------------------------------------------------------- */

typedef struct {
    char status[16];
    int stage;      /* the running stage, -1 none yet */
    long step;
} Seen;

/* Reads the run's status and, when it is running, its stage and that stage's steps done. */
static bool look(int port, int64_t id, Seen *seen)
{
    cJSON *run = dproc_get_run(port, id);
    if (!run)
        return false;
    cJSON *st = cJSON_GetObjectItem(run, "status"), *stage = cJSON_GetObjectItem(run, "stage");
    snprintf(seen->status, sizeof seen->status, "%s", cJSON_IsString(st) ? st->valuestring : "?");
    seen->stage = -1;
    seen->step = 0;
    for (int k = 0; cJSON_IsString(stage) && k < STAGE_COUNT; k++)
        if (strcmp(stage->valuestring, STAGE[k]) == 0)
            seen->stage = k;
    if (seen->stage >= 0) {
        cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(run, "stages"), seen->stage);
        cJSON *step = cJSON_GetObjectItem(row, "step");
        seen->step = cJSON_IsNumber(step) ? (long)step->valuedouble : 0;
    }
    cJSON_Delete(run);
    return true;
}

static bool ended(const Seen *seen)
{
    return strcmp(seen->status, "succeeded") == 0 || strcmp(seen->status, "failed") == 0 ||
           strcmp(seen->status, "canceled") == 0;
}

/* Polls until the run has reached (stage, step): 1, 0 when it ended first, -1 when it stalled
 * or could not be read. */
static int wait_moment(int port, int64_t id, int stage, long step, Seen *seen)
{
    double alive = mono();
    Seen last = {.stage = -2};
    for (;;) {
        if (!look(port, id, seen))
            return -1;
        if (ended(seen))
            return 0;
        if (strcmp(seen->status, "running") == 0 && seen->stage >= 0 &&
            (seen->stage > stage || (seen->stage == stage && seen->step >= step)))
            return 1;
        if (seen->stage != last.stage || seen->step != last.step ||
            strcmp(seen->status, last.status) != 0) {
            last = *seen;
            alive = mono();
        } else if (mono() - alive > STALL_S) {
            return -1;
        }
        usleep(2000);
    }
}

/* Waits for a daemon started with a crash point to end by itself while the run lives: 1 when
 * it did, 0 when the run ended first (the point was never reached; the daemon is stopped),
 * -1 when the run stalled. */
static int wait_crash(Daemon *d, int64_t id, Seen *seen)
{
    double alive = mono();
    Seen last = {.stage = -2};
    for (;;) {
        if (dproc_wait_exit(d, 0.05) != -2)
            return 1;
        if (!look(d->port, id, seen)) {
            if (dproc_wait_exit(d, 1.0) != -2)
                return 1;     /* it died while answering */
            return -1;
        }
        if (ended(seen)) {
            dproc_signal(d, SIGTERM, 60);
            return 0;
        }
        if (seen->stage != last.stage || seen->step != last.step ||
            strcmp(seen->status, last.status) != 0) {
            last = *seen;
            alive = mono();
        } else if (mono() - alive > STALL_S) {
            return -1;
        }
    }
}

void soak_describe(const SoakTrial *t, char *buf, size_t cap)
{
    buf[0] = 0;
    say(buf, cap, "%s:", SOAK_METHOD_NAMES[t->method]);
    for (int i = 0; i < t->n_hits; i++) {
        const SoakHit *h = &t->hits[i];
        say(buf, cap, "%s", i ? "; then" : "");
        if (h->crash_at)
            say(buf, cap, " crash at %s", h->crash_at);
        else if (h->stage == STAGE_KMEANS || h->stage == STAGE_EVAL)
            say(buf, cap, " %s %.3f s into %s", h->sig == SIGTERM ? "SIGTERM" : "kill -9",
                h->delay_s, STAGE[h->stage]);
        else
            say(buf, cap, " %s at %s step %ld", h->sig == SIGTERM ? "SIGTERM" : "kill -9",
                STAGE[h->stage], h->step);
    }
}

int soak_trial(Soak *s, const SoakTrial *t, char *report, size_t cap)
{
    char what[256], why[512] = "", status[32], db[256], happened[512] = "";
    double t0 = mono();
    int rc = -1;
    bool missed = false;
    Daemon d;
    soak_describe(t, what, sizeof what);
    report[0] = 0;
    if (!s->have[t->method] || t->n_hits < 1 || t->n_hits > SOAK_MAX_HITS) {
        say(report, cap, "%s: no twin or no disturbance\n", what);
        return -1;
    }
    if (dproc_mkdir(&d) != 0) {
        say(report, cap, "%s: no folder\n", what);
        return -1;
    }
    d.crash_at = t->hits[0].crash_at;
    int started = dproc_start(&d);
    int64_t id = started == 0 ? dproc_submit(d.port, CONFIGS[t->method], NULL) : 0;
    if (id <= 0 && started == 0 && d.crash_at && dproc_wait_exit(&d, 5) != -2) {
        /* a crash point reached as soon as the run was claimed killed the daemon before it
         * answered: the run is the first of this fresh database */
        id = 1;
        started = 1;
    }
    if (id <= 0) {
        say(report, cap, "%s: the daemon did not take the run (see %s)\n", what, d.log);
        goto out;
    }
    for (int i = 0; i < t->n_hits && !missed; i++) {
        const SoakHit *h = &t->hits[i];
        Seen seen = {.stage = -1};
        int r;
        if (h->crash_at) {
            /* a daemon that died while starting was killed by its crash point already */
            r = started == 1 ? 1 : wait_crash(&d, id, &seen);
            if (r == 1)
                say(happened, sizeof happened, "%scrash at %s (last seen %s %ld)", i ? "; " : "",
                    h->crash_at, seen.stage >= 0 ? STAGE[seen.stage] : "-", seen.step);
        } else {
            r = started == 0 ? wait_moment(d.port, id, h->stage, h->step, &seen) : -1;
            if (r == 1) {
                if (h->delay_s > 0)
                    usleep((useconds_t)(h->delay_s * 1e6));
                int code = dproc_signal(&d, h->sig, 60);
                int want = h->sig == SIGTERM ? 0 : 128 + SIGKILL;
                if (code != want) {
                    say(report, cap, "%s: the daemon ended with %d after %s, not %d (see %s)\n",
                        what, code, h->sig == SIGTERM ? "SIGTERM" : "SIGKILL", want, d.log);
                    goto out;
                }
                say(happened, sizeof happened, "%s%s at %s step %ld", i ? "; " : "",
                    h->sig == SIGTERM ? "SIGTERM" : "kill -9",
                    seen.stage >= 0 ? STAGE[seen.stage] : "-", seen.step);
            }
        }
        if (r < 0) {
            say(report, cap, "%s: the run stalled or could not be read (see %s)\n", what, d.log);
            goto out;
        }
        if (r == 0) {
            missed = true;      /* it ended first: compare what it is */
            say(happened, sizeof happened, "%s(hit %d not reached: the run ended first)",
                i ? "; " : "", i + 1);
            break;
        }
        d.crash_at = i + 1 < t->n_hits ? t->hits[i + 1].crash_at : NULL;
        started = dproc_start(&d);
        if (started < 0 || (started == 1 && !d.crash_at)) {
            say(report, cap, "%s: the daemon did not restart (see %s)\n", what, d.log);
            goto out;
        }
    }
    if (!missed &&
        strcmp(dproc_wait_done(d.port, id, STALL_S, status, sizeof status), "?") == 0) {
        say(report, cap, "%s: the resumed run stalled (see %s)\n", what, d.log);
        goto out;
    }
    if (d.pid > 0 && dproc_signal(&d, SIGTERM, 60) != 0) {
        say(report, cap, "%s: the daemon did not stop cleanly (see %s)\n", what, d.log);
        goto out;
    }

    snprintf(db, sizeof db, "%s/gsimclr.db", d.db);
    char *view = run_view(db, id, NULL, why, sizeof why);
    if (!view) {
        say(report, cap, "%s -> %s: FAILED: %s (%s kept)\n", what, happened, why, d.dir);
        rc = 1;
        goto out;
    }
    const char *twin = s->view[t->method];
    if (strcmp(view, twin) == 0 && !strstr(view, "DUPLICATE")) {
        say(report, cap, "%s -> %s: identical (%.1f s)\n", what, happened, mono() - t0);
        rc = 0;
    } else {
        say(report, cap, "%s -> %s: DIFFERS from its twin (%s kept):\n", what, happened, d.dir);
        lines_missing(twin, view, "twin only:", 12, report, cap);
        lines_missing(view, twin, "run only: ", 12, report, cap);
        rc = 1;
    }
    free(view);
out:
    if (rc == 1)
        d.dir[0] = 0;   /* keep the folder of a failed trial to look at */
    dproc_cleanup(&d);
    return rc;
}

/* ---- random trials ---------------------------------------------------------------------- */

/* splitmix64 */
static uint64_t rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in lo..hi (inclusive; lo when hi < lo). */
static long rnd_range(uint64_t *state, long lo, long hi)
{
    return hi <= lo ? lo : lo + (long)(rnd(state) % (uint64_t)(hi - lo + 1));
}

static double rnd_unit(uint64_t *state)
{
    return (double)(rnd(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* A moment of a stage the method runs: stage number `which` (modulo the method's stages;
 * -1 draws one), a random step of it for a training stage, or a random delay into kmeans or
 * eval up to the twin's time for it. */
static void random_moment(const SoakTwinInfo *tw, SoakMethod m, int which, uint64_t *rng,
                          SoakHit *h)
{
    int stages[STAGE_COUNT], n = 0;
    for (int st = 0; st < STAGE_COUNT; st++)
        if (m == SOAK_GSIMCLR || st >= STAGE_SIMCLR)
            stages[n++] = st;
    memset(h, 0, sizeof *h);
    h->stage = stages[which >= 0 ? which % n : rnd_range(rng, 0, n - 1)];
    h->sig = SIGKILL;
    if (h->stage == STAGE_DAE || h->stage == STAGE_SIMCLR)
        h->step = rnd_range(rng, 1, tw->steps[h->stage] > 1 ? tw->steps[h->stage] : 1);
    else
        h->delay_s = rnd_unit(rng) * (isfinite(tw->seconds[h->stage]) ? tw->seconds[h->stage] : 0);
}

static bool moment_before(const SoakHit *a, const SoakHit *b)
{
    if (a->stage != b->stage)
        return a->stage < b->stage;
    return a->step != b->step ? a->step < b->step : a->delay_s < b->delay_s;
}

void soak_random_trial(const Soak *s, SoakMethod m, int index, uint64_t *rng, SoakTrial *t)
{
    const SoakTwinInfo *tw = &s->info[m];
    /* the kinds take turns; within a kind, its variants (stages, points) take turns too, so
     * that a soak of a few trials per kind covers them all */
    int kind = index % SOAK_KINDS, variant = index / SOAK_KINDS;
    memset(t, 0, sizeof *t);
    t->method = m;
    t->n_hits = 1;
    int ckpts = tw->checkpoints > 0 ? tw->checkpoints : 1;
    switch (kind) {
    case 0:
        random_moment(tw, m, variant, rng, &t->hits[0]);
        break;
    case 1:
        snprintf(t->crash_buf[0], sizeof t->crash_buf[0], "ckpt-commit:%ld",
                 rnd_range(rng, 1, ckpts));
        t->hits[0].crash_at = t->crash_buf[0];
        break;
    case 2: {
        static const char *const points[] = {"assign", "ckpt", "metric", "resume", "done",
                                             "claim"};
        int first = m == SOAK_GSIMCLR ? 0 : 1;  /* a SimCLR run has no pseudo-labels */
        const char *p = points[first + variant % (6 - first)];
        long k = strcmp(p, "ckpt") == 0     ? rnd_range(rng, 1, ckpts)
                 : strcmp(p, "metric") == 0 ? rnd_range(rng, 1, tw->metrics > 0 ? tw->metrics : 1)
                                            : 1;
        snprintf(t->crash_buf[0], sizeof t->crash_buf[0], "%s:%ld", p, k);
        t->hits[0].crash_at = t->crash_buf[0];
        break;
    }
    case 3: {
        t->n_hits = 2;
        random_moment(tw, m, -1, rng, &t->hits[0]);
        int second = variant % 3;
        if (second == 0) {
            t->hits[1].crash_at = "resume:1";
        } else if (second == 1) {
            t->hits[1].crash_at = "ckpt-commit:1";
        } else {
            random_moment(tw, m, -1, rng, &t->hits[1]);
            if (moment_before(&t->hits[1], &t->hits[0])) {
                SoakHit x = t->hits[0];
                t->hits[0] = t->hits[1];
                t->hits[1] = x;
            }
        }
        break;
    }
    default: {
        /* SIGTERM inside a SimCLR epoch, then kill -9 later in that epoch */
        long steps = tw->steps[STAGE_SIMCLR] > 2 ? tw->steps[STAGE_SIMCLR] : 2;
        long per_epoch = tw->epochs[STAGE_SIMCLR] > 0 ? steps / tw->epochs[STAGE_SIMCLR] : steps;
        long s1 = rnd_range(rng, 1, steps - 1);
        long epoch_end = (s1 / per_epoch + 1) * per_epoch;
        long s2 = rnd_range(rng, s1 + 1, epoch_end < steps ? epoch_end : steps);
        t->n_hits = 2;
        t->hits[0] = (SoakHit){.stage = STAGE_SIMCLR, .step = s1, .sig = SIGTERM};
        t->hits[1] = (SoakHit){.stage = STAGE_SIMCLR, .step = s2, .sig = SIGKILL};
        break;
    }
    }
}
