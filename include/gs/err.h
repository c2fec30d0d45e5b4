/* err.h — the error value that every fallible call below the service returns through.
 * A function that can fail takes a GsErr * and returns 0 on success or -1 with a message
 * naming what failed (a file, a field, a size). It never exits the process. */
#ifndef GS_ERR_H
#define GS_ERR_H

#include <stddef.h>

typedef struct {
    char msg[512];
} GsErr;

/* Formats a message into err (when err is not NULL) and returns -1, so callers can write
 * `return gs_errf(err, "%s: truncated", path);`. */
int gs_errf(GsErr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
