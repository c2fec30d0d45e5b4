/* cluster_metrics.c — how well a clustering matches true labels: purity and normalised mutual
 * information (scikit-learn's definitions). The kmeans stage reports them as a diagnostic; they
 * must never feed back into training, and they know nothing of how the clusters were made. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "gs/eval.h"

/* The (k, n_classes) contingency table, or NULL when an entry is out of range or memory ran
 * out (the callers then return NaN). */
static int64_t *contingency(const int32_t *assign, const int32_t *labels, int n, int k,
                            int n_classes)
{
    if (!assign || !labels || n < 1 || k < 1 || n_classes < 1)
        return NULL;
    int64_t *t = calloc((size_t)k * n_classes, sizeof *t);
    if (!t)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (assign[i] < 0 || assign[i] >= k || labels[i] < 0 || labels[i] >= n_classes) {
            free(t);
            return NULL;
        }
        t[(size_t)assign[i] * n_classes + labels[i]]++;
    }
    return t;
}

double cluster_purity(const int32_t *assign, const int32_t *labels, int n, int k, int n_classes)
{
    int64_t *t = contingency(assign, labels, n, k, n_classes);
    if (!t)
        return NAN;
    int64_t hit = 0;
    for (int j = 0; j < k; j++) {
        int64_t m = 0;
        for (int c = 0; c < n_classes; c++)
            m = t[(size_t)j * n_classes + c] > m ? t[(size_t)j * n_classes + c] : m;
        hit += m;
    }
    free(t);
    return (double)hit / n;
}

/* Entropy (natural log) of the marginal counts, empty entries skipped. */
static double entropy_counts(const int64_t *cnt, int m, int n, int *nonempty)
{
    double h = 0;
    *nonempty = 0;
    for (int i = 0; i < m; i++)
        if (cnt[i] > 0) {
            double p = (double)cnt[i] / n;
            h -= p * log(p);
            (*nonempty)++;
        }
    return h;
}

double cluster_nmi(const int32_t *assign, const int32_t *labels, int n, int k, int n_classes)
{
    int64_t *t = contingency(assign, labels, n, k, n_classes);
    if (!t)
        return NAN;
    int64_t *row = calloc((size_t)k + n_classes, sizeof *row); // cluster then class counts
    if (!row) {
        free(t);
        return NAN;
    }
    int64_t *col = row + k;
    for (int j = 0; j < k; j++)
        for (int c = 0; c < n_classes; c++) {
            row[j] += t[(size_t)j * n_classes + c];
            col[c] += t[(size_t)j * n_classes + c];
        }
    int n_clusters, n_cls;
    double h_pred = entropy_counts(row, k, n, &n_clusters);
    double h_true = entropy_counts(col, n_classes, n, &n_cls);
    double nmi;
    if (n_clusters == 1 && n_cls == 1) {
        nmi = 1.0; // scikit-learn: neither labelling splits the data, a perfect match
    } else if (n_clusters == 1 || n_cls == 1) {
        nmi = 0.0; // one side has zero entropy, so the mutual information is 0
    } else {
        /* scikit-learn's mutual_info_score: terms below machine epsilon count as 0. */
        double mi = 0;
        for (int j = 0; j < k; j++)
            for (int c = 0; c < n_classes; c++) {
                int64_t v = t[(size_t)j * n_classes + c];
                if (v == 0)
                    continue;
                double pv = (double)v / n;
                double term = pv * (log((double)v) - log((double)n)) +
                              pv * (-log((double)row[j] * (double)col[c]) + 2.0 * log((double)n));
                if (fabs(term) >= 2.220446049250313e-16)
                    mi += term;
            }
        mi = mi > 0 ? mi : 0;
        nmi = mi == 0 ? 0.0 : mi / (0.5 * (h_true + h_pred));
    }
    free(t);
    free(row);
    return nmi;
}
