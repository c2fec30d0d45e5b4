/* err.c — formatting of GsErr messages. It sits below every layer, so it includes nothing of
 * the project but its own header. */
#include "gs/err.h"

#include <stdarg.h>
#include <stdio.h>

int gs_errf(GsErr *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
