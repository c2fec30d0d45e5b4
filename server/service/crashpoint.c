/* crashpoint.c — the GSIMCLRD_CRASH_AT test hook (crashpoint.h): counts how often each named
 * point is reached and kills the process (or asks it to stop) at the chosen hit. It must stay
 * inert, and cheap, when the variable is not set: the points sit on the paths every run
 * takes. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crashpoint.h"

enum { MAX_POINTS = 8 };

static struct {
    char name[32];
    long at;        /* the hit that acts */
    bool term;      /* act with SIGTERM to the process (a clean stop), not SIGKILL */
    long hits;      /* under lock */
} g_points[MAX_POINTS];
static int g_n_points;
static atomic_int g_armed;  /* 0 until read; 1 none set; 2 some set */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reads GSIMCLRD_CRASH_AT: "NAME:N[:term][,...]"; a malformed entry is reported and
 * ignored. */
static void crash_read_env(void)
{
    const char *spec = getenv("GSIMCLRD_CRASH_AT");
    while (spec && *spec && g_n_points < MAX_POINTS) {
        size_t len = strcspn(spec, ",");
        char item[64];
        char *colon, *end;
        long at;
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1),
                 spec);
        colon = strchr(item, ':');
        at = colon ? strtol(colon + 1, &end, 10) : 0;
        size_t name_len = colon ? (size_t)(colon - item) : 0;
        bool term = colon && strcmp(end, ":term") == 0;
        if (colon && at > 0 && (*end == '\0' || term) && name_len > 0 &&
            name_len < sizeof g_points[0].name) {
            memcpy(g_points[g_n_points].name, item, name_len);
            g_points[g_n_points].name[name_len] = '\0';
            g_points[g_n_points].term = term;
            g_points[g_n_points++].at = at;
        } else {
            fprintf(stderr, "gsimclrd: GSIMCLRD_CRASH_AT: ignoring \"%s\" (want NAME:N or "
                    "NAME:N:term)\n", item);
        }
        spec += len;
        if (*spec == ',')
            spec++;
    }
    atomic_store(&g_armed, g_n_points > 0 ? 2 : 1);
}

void crash_point(const char *name)
{
    int armed = atomic_load_explicit(&g_armed, memory_order_relaxed);
    if (armed == 1)
        return;
    if (armed == 0) {
        pthread_once(&g_once, crash_read_env);
        if (atomic_load(&g_armed) == 1)
            return;
    }
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_points; i++)
        if (strcmp(g_points[i].name, name) == 0 && ++g_points[i].hits == g_points[i].at) {
            fprintf(stderr, "gsimclrd: GSIMCLRD_CRASH_AT: %s at %s:%ld\n",
                    g_points[i].term ? "SIGTERM" : "SIGKILL", name, g_points[i].at);
            /* to the process, not this thread: the daemon's main thread waits for SIGTERM */
            kill(getpid(), g_points[i].term ? SIGTERM : SIGKILL);
        }
    pthread_mutex_unlock(&g_lock);
}
