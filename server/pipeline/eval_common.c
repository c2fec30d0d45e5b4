/* eval_common.c — the input checks both evaluators of frozen features run before any
 * arithmetic, so a bad row is reported by index rather than turning into a NaN accuracy. It
 * must not allocate or change its inputs. */
#include "eval_common.h"

#include <math.h>
#include <stddef.h>

static int check_rows(const char *who, const char *set, const float *x, const int32_t *y,
                      int n, int d, int n_classes, GsErr *err)
{
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= n_classes)
            return gs_errf(err, "%s: %s label of row %d is %d, outside [0, %d)", who, set, i,
                           (int)y[i], n_classes);
        const float *r = x + (size_t)i * d; // (d)
        for (int j = 0; j < d; j++)
            if (!isfinite(r[j]))
                return gs_errf(err, "%s: %s feature row %d column %d is not finite (%g)", who,
                               set, i, j, (double)r[j]);
    }
    return 0;
}

int eval_check_features(const char *who, const float *xtr, const int32_t *ytr, int ntr,
                        const float *xte, const int32_t *yte, int nte, int d, int n_classes,
                        int min_ntr, GsErr *err)
{
    if (!xtr || !ytr || !xte || !yte)
        return gs_errf(err, "%s: NULL feature or label array", who);
    if (ntr < min_ntr)
        return gs_errf(err, "%s: need at least %d training rows, got %d", who, min_ntr, ntr);
    if (nte < 1)
        return gs_errf(err, "%s: need at least 1 test row, got %d", who, nte);
    if (d < 1)
        return gs_errf(err, "%s: feature dimension d must be >= 1, got %d", who, d);
    if (n_classes < 2)
        return gs_errf(err, "%s: need at least 2 classes, got %d", who, n_classes);
    if ((size_t)ntr > SIZE_MAX / sizeof(float) / (size_t)d ||
        (size_t)nte > SIZE_MAX / sizeof(float) / (size_t)d)
        return gs_errf(err, "%s: %d or %d rows of %d features overflow memory sizes", who, ntr,
                       nte, d);
    if (check_rows(who, "train", xtr, ytr, ntr, d, n_classes, err) ||
        check_rows(who, "test", xte, yte, nte, d, n_classes, err))
        return -1;
    return 0;
}

