/* relay.c — the framed protocol between rank 0 of a multi-process run and the daemon
 * (relay.h): encoding, frame I/O, the daemon's side that turns a frame into a Sink call, and
 * rank 0's sink that sends them. */
#define _GNU_SOURCE /* memrchr, getaddrinfo */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

/* ---- limits ----------------------------------------------------------------------------- */

enum { SMALL = 64 << 10 };
/* a checkpoint, the features of every image, a result with every pseudo-label: large, but
 * bounded so that a wrong length cannot make anyone allocate without end */
static const size_t BIG = (size_t)1 << 31;

size_t relay_limit(uint32_t type)
{
    switch (type) {
    case RELAY_HELLO:
        return 256;
    case RELAY_CANCEL:
    case RELAY_HEARTBEAT:
        return 0;
    case RELAY_ANSWER:
        return 4;
    case RELAY_PROGRESS:
    case RELAY_METRIC:
    case RELAY_LOG:
    case RELAY_ERROR:
        return SMALL;
    case RELAY_HOSTS:
        return 64 * 1100;
    case RELAY_JOB:
    case RELAY_CHECKPOINT:
    case RELAY_ASSIGNMENTS:
    case RELAY_FEATURES:
    case RELAY_RESULT:
        return BIG;
    default:
        return 0;
    }
}

const char *relay_type_name(uint32_t type)
{
    static const char *const names[RELAY_TYPES] = {
        "?",        "hello",    "job",         "cancel",   "answer",
        "progress", "metric",   "log",         "checkpoint", "assignments",
        "features", "hosts",    "result",      "error",    "heartbeat"};
    return type > 0 && type < RELAY_TYPES ? names[type] : "unknown";
}

/* ---- building ------------------------------------------------------------------------- */

void relay_put_u32(RelayBuf *b, uint32_t v)
{
    bytebuf_put_u32(b, v);
}

void relay_put_i64(RelayBuf *b, int64_t v)
{
    bytebuf_put_u64(b, (uint64_t)v);
}

void relay_put_f64(RelayBuf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    relay_put_i64(b, (int64_t)u);
}

void relay_put_str(RelayBuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    relay_put_u32(b, (uint32_t)(n + 1));
    bytebuf_put(b, s ? s : "", n + 1);
}

void relay_put_bytes(RelayBuf *b, const void *p, size_t n)
{
    relay_put_i64(b, (int64_t)n);
    bytebuf_put(b, p, n);
}

/* n 32-bit values in little-endian order (this host's order on every machine we build for;
 * checked once so a big-endian port would not silently send garbage) */
static void put_array32(RelayBuf *b, const void *p, size_t n)
{
    const uint32_t one = 1;
    if (*(const uint8_t *)&one == 1) {
        bytebuf_put(b, p, n * 4);
        return;
    }
    const uint32_t *v = p;
    for (size_t i = 0; i < n; i++)
        relay_put_u32(b, v[i]);
}

void relay_buf_free(RelayBuf *b)
{
    bytebuf_free(b);
}

/* ---- reading -------------------------------------------------------------------------- */

static const uint8_t *take(RelayIn *in, size_t n)
{
    if (in->bad || n > in->len - in->at) {
        in->bad = true;
        return NULL;
    }
    const uint8_t *p = in->p + in->at;
    in->at += n;
    return p;
}

uint32_t relay_get_u32(RelayIn *in)
{
    const uint8_t *x = take(in, 4);
    return x ? (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24
             : 0;
}

int32_t relay_get_i32(RelayIn *in)
{
    return (int32_t)relay_get_u32(in);
}

int64_t relay_get_i64(RelayIn *in)
{
    uint64_t lo = relay_get_u32(in), hi = relay_get_u32(in);
    return (int64_t)(lo | hi << 32);
}

double relay_get_f64(RelayIn *in)
{
    uint64_t u = (uint64_t)relay_get_i64(in);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

const char *relay_get_str(RelayIn *in)
{
    uint32_t n = relay_get_u32(in);
    const uint8_t *s = n ? take(in, n) : NULL;
    if (!s || s[n - 1] != 0 || memchr(s, 0, n - 1)) {
        in->bad = true;
        return NULL;
    }
    return (const char *)s;
}

const void *relay_get_bytes(RelayIn *in, size_t *n)
{
    int64_t len = relay_get_i64(in);
    *n = 0;
    if (in->bad || len < 0 || (uint64_t)len > in->len - in->at) {
        in->bad = true;
        return NULL;
    }
    *n = (size_t)len;
    return take(in, (size_t)len);
}

const void *relay_get_array(RelayIn *in, size_t n, size_t size)
{
    if (in->bad || (size && n > (in->len - in->at) / size)) {
        in->bad = true;
        return NULL;
    }
    return take(in, n * size);
}

/* ---- frames --------------------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t n, GsErr *err)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return gs_errf(err, "relay: send: %s", w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int relay_send(int fd, uint32_t type, const void *payload, size_t len, GsErr *err)
{
    if (len > relay_limit(type))
        return gs_errf(err, "relay: a %s frame of %zu bytes is over its limit of %zu",
                       relay_type_name(type), len, relay_limit(type));
    uint8_t head[8];
    RelayBuf b = {.p = head, .cap = sizeof head};
    relay_put_u32(&b, type);
    relay_put_u32(&b, (uint32_t)len);
    /* one write when small, so a frame is one packet */
    if (len <= 4096) {
        uint8_t one[8 + 4096];
        memcpy(one, head, 8);
        if (len)
            memcpy(one + 8, payload, len);
        return write_all(fd, one, 8 + len, err);
    }
    if (write_all(fd, head, 8, err))
        return -1;
    return write_all(fd, payload, len, err);
}

/* Reads exactly n bytes, each wait at most timeout_ms. 0; 1 when the peer closed before the
 * first byte; -1 with err. */
static int read_all(int fd, uint8_t *p, size_t n, int timeout_ms, GsErr *err)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return gs_errf(err, "relay: poll: %s", strerror(errno));
        if (rc == 0)
            return gs_errf(err, "relay: nothing came for %d s inside a frame", timeout_ms / 1000);
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return gs_errf(err, "relay: recv: %s", strerror(errno));
        if (r == 0)
            return got == 0 ? 1 : gs_errf(err, "relay: the connection closed inside a frame");
        got += (size_t)r;
    }
    return 0;
}

int relay_recv(int fd, uint32_t *type, uint8_t **payload, size_t *len, int timeout_ms,
               GsErr *err)
{
    uint8_t head[8];
    *payload = NULL;
    *len = 0;
    int rc = read_all(fd, head, 8, timeout_ms, err);
    if (rc)
        return rc;
    RelayIn in = {.p = head, .len = 8};
    uint32_t t = relay_get_u32(&in), n = relay_get_u32(&in);
    if (t == 0 || t >= RELAY_TYPES)
        return gs_errf(err, "relay: unknown frame type %u", t), -2;
    if (n > relay_limit(t))
        return gs_errf(err, "relay: a %s frame of %u bytes is over its limit of %zu",
                       relay_type_name(t), n, relay_limit(t)),
               -2;
    uint8_t *p = NULL;
    if (n > 0) {
        p = malloc((size_t)n + 1);
        if (!p)
            return gs_errf(err, "relay: out of memory for a %s frame of %u bytes",
                           relay_type_name(t), n);
        rc = read_all(fd, p, n, timeout_ms, err);
        if (rc) {
            free(p);
            return rc == 1 ? gs_errf(err, "relay: the connection closed inside a frame") : -1;
        }
        p[n] = 0;
    }
    *type = t;
    *payload = p;
    *len = n;
    return 0;
}

/* ---- the job and the result ------------------------------------------------------------ */

void relay_put_job(RelayBuf *b, const RelayJob *job)
{
    relay_put_str(b, job->config_json);
    relay_put_str(b, job->data_root ? job->data_root : "");
    relay_put_str(b, job->cache_dir ? job->cache_dir : "");
    relay_put_u32(b, job->has_resume);
    relay_put_bytes(b, job->resume, job->has_resume ? job->resume_len : 0);
}

int relay_get_job(const uint8_t *p, size_t len, RelayJob *job, GsErr *err)
{
    RelayIn in = {.p = p, .len = len};
    job->config_json = relay_get_str(&in);
    job->data_root = relay_get_str(&in);
    job->cache_dir = relay_get_str(&in);
    job->has_resume = relay_get_u32(&in) != 0;
    job->resume = relay_get_bytes(&in, &job->resume_len);
    if (in.bad || in.at != in.len)
        return gs_errf(err, "relay: a malformed job frame");
    return 0;
}

void relay_put_result(RelayBuf *b, const RunResult *r)
{
    for (int s = 0; s < STAGE_COUNT; s++)
        relay_put_f64(b, r->seconds[s]);
    relay_put_f64(b, r->dae_loss);
    relay_put_f64(b, r->inertia);
    relay_put_f64(b, r->purity);
    relay_put_f64(b, r->nmi);
    relay_put_u32(b, (uint32_t)r->k);
    relay_put_u32(b, r->cluster_sizes != NULL);
    if (r->cluster_sizes)
        put_array32(b, r->cluster_sizes, (size_t)r->k);
    relay_put_u32(b, (uint32_t)r->n_train);
    relay_put_u32(b, r->assign != NULL);
    if (r->assign)
        put_array32(b, r->assign, (size_t)r->n_train);
    relay_put_f64(b, r->repeat_batches);
    relay_put_f64(b, r->simclr_loss);
    relay_put_f64(b, r->knn_top1);
    relay_put_f64(b, r->linear_top1);
    relay_put_f64(b, r->linear_top1_head);
    relay_put_f64(b, r->linear_weight_decay);
    relay_put_u32(b, (uint32_t)r->linear_epochs);
    relay_put_u32(b, (uint32_t)r->n_finetune);
    for (int j = 0; j < r->n_finetune; j++) {
        const FinetuneRow *f = &r->finetune[j];
        relay_put_f64(b, f->fraction);
        relay_put_u32(b, (uint32_t)f->labels);
        relay_put_u32(b, (uint32_t)f->val_images);
        relay_put_f64(b, f->finetuned_top1);
        relay_put_f64(b, f->finetuned_val_top1);
        relay_put_u32(b, (uint32_t)f->finetuned_epoch);
        relay_put_f64(b, f->scratch_top1);
        relay_put_f64(b, f->scratch_val_top1);
        relay_put_u32(b, (uint32_t)f->scratch_epoch);
        relay_put_f64(b, f->seconds);
    }
    relay_put_u32(b, (uint32_t)r->n_test);
    relay_put_str(b, r->test_split ? r->test_split : "none");
    relay_put_u32(b, (uint32_t)r->n_skipped);
    for (int k = 0; k < 2; k++) {
        relay_put_u32(b, (uint32_t)r->n_skipped_of[k]);
        for (int i = 0; i < r->n_skipped_of[k]; i++)
            relay_put_str(b, r->skipped[k][i]);
    }
    relay_put_u32(b, r->eval_note != NULL);
    if (r->eval_note)
        relay_put_str(b, r->eval_note);
}

void relay_owned_free(RelayOwned *o)
{
    free(o->text);
    free(o->skipped[0]);
    free(o->skipped[1]);
    *o = (RelayOwned){0};
}

/* a count that must lie in 0..max */
static int get_count(RelayIn *in, int max)
{
    int32_t v = relay_get_i32(in);
    if (v < 0 || v > max)
        in->bad = true;
    return in->bad ? 0 : v;
}

/* the strings of the result are copied into one block so the frame can go */
static char *keep(RelayIn *in, char **block, size_t *used, size_t cap)
{
    const char *s = relay_get_str(in);
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    if (n > cap - *used) {
        in->bad = true;
        return NULL;
    }
    char *d = *block + *used;
    memcpy(d, s, n);
    *used += n;
    return d;
}

int relay_get_result(RelayIn *in, RunResult *r, RelayOwned *o, GsErr *err)
{
    memset(r, 0, sizeof *r);
    *o = (RelayOwned){0};
    /* no string can be longer than the frame: a block of its size holds them all */
    size_t cap = in->len + 1, used = 0;
    o->text = malloc(cap);
    if (!o->text)
        return gs_errf(err, "relay: out of memory for a result");
    for (int s = 0; s < STAGE_COUNT; s++)
        r->seconds[s] = relay_get_f64(in);
    r->dae_loss = relay_get_f64(in);
    r->inertia = relay_get_f64(in);
    r->purity = relay_get_f64(in);
    r->nmi = relay_get_f64(in);
    r->k = get_count(in, 1 << 24);
    if (relay_get_u32(in)) {
        const void *a = relay_get_array(in, (size_t)r->k, 4);
        if (a && (r->cluster_sizes = malloc((size_t)r->k * 4 + 4)))
            memcpy(r->cluster_sizes, a, (size_t)r->k * 4);
        else
            in->bad = true;
    }
    r->n_train = get_count(in, 1 << 30);
    if (relay_get_u32(in)) {
        const void *a = relay_get_array(in, (size_t)r->n_train, 4);
        if (a && (r->assign = malloc((size_t)r->n_train * 4 + 4)))
            memcpy(r->assign, a, (size_t)r->n_train * 4);
        else
            in->bad = true;
    }
    r->repeat_batches = relay_get_f64(in);
    r->simclr_loss = relay_get_f64(in);
    r->knn_top1 = relay_get_f64(in);
    r->linear_top1 = relay_get_f64(in);
    r->linear_top1_head = relay_get_f64(in);
    r->linear_weight_decay = (float)relay_get_f64(in);
    r->linear_epochs = relay_get_i32(in);
    r->n_finetune = get_count(in, FINETUNE_MAX_FRACTIONS);
    for (int j = 0; j < r->n_finetune; j++) {
        FinetuneRow *f = &r->finetune[j];
        f->fraction = relay_get_f64(in);
        f->labels = relay_get_i32(in);
        f->val_images = relay_get_i32(in);
        f->finetuned_top1 = relay_get_f64(in);
        f->finetuned_val_top1 = relay_get_f64(in);
        f->finetuned_epoch = relay_get_i32(in);
        f->scratch_top1 = relay_get_f64(in);
        f->scratch_val_top1 = relay_get_f64(in);
        f->scratch_epoch = relay_get_i32(in);
        f->seconds = relay_get_f64(in);
    }
    r->n_test = get_count(in, 1 << 30);
    r->test_split = keep(in, &o->text, &used, cap);
    r->n_skipped = get_count(in, 1 << 30);
    int total = 0;
    for (int k = 0; k < 2 && !in->bad; k++) {
        /* each string takes at least 5 bytes of the frame: a count beyond that is a lie */
        int n = get_count(in, (int)((in->len - in->at) / 5));
        r->n_skipped_of[k] = n;
        o->skipped[k] = calloc((size_t)n + 1, sizeof(char *));
        if (!o->skipped[k]) {
            in->bad = true;
            break;
        }
        for (int i = 0; i < n && !in->bad; i++)
            o->skipped[k][i] = keep(in, &o->text, &used, cap);
        r->skipped[k] = (const char *const *)o->skipped[k];
        total += n;
    }
    if (relay_get_u32(in))
        r->eval_note = keep(in, &o->text, &used, cap);
    if (!in->bad && total != r->n_skipped)
        in->bad = true;
    if (in->bad || in->at != in->len) {
        run_result_free(r);
        relay_owned_free(o);
        memset(r, 0, sizeof *r);
        return gs_errf(err, "relay: a malformed result frame");
    }
    return 0;
}

/* ---- the daemon's side ---------------------------------------------------------------- */

static int bad_frame(GsErr *err, uint32_t type, const char *why)
{
    return gs_errf(err, "relay: a malformed %s frame from rank 0%s%s", relay_type_name(type),
                   why ? ": " : "", why ? why : "");
}

static bool stage_ok(int s)
{
    return s >= 0 && s < STAGE_COUNT;
}

int relay_apply(RelayDaemon *d, uint32_t type, const uint8_t *p, size_t len, GsErr *err)
{
    RelayIn in = {.p = p, .len = len};
    const Sink *s = d->sink;
    d->have_answer = false;
    if (d->done)
        return gs_errf(err, "relay: a %s frame after the run's end", relay_type_name(type));
    switch (type) {
    case RELAY_HEARTBEAT:
        break;
    case RELAY_PROGRESS: {
        StageProgress g;
        g.stage = relay_get_i32(&in);
        g.epoch = relay_get_i32(&in);
        g.epochs = relay_get_i32(&in);
        g.step = (long)relay_get_i64(&in);
        g.steps = (long)relay_get_i64(&in);
        g.loss = relay_get_f64(&in);
        g.items_per_s = relay_get_f64(&in);
        g.eta_s = relay_get_f64(&in);
        if (in.bad || in.at != len || !stage_ok(g.stage))
            return bad_frame(err, type, NULL);
        if (s->progress)
            s->progress(s->ctx, &g);
        break;
    }
    case RELAY_METRIC: {
        int stage = relay_get_i32(&in), epoch = relay_get_i32(&in);
        long step = (long)relay_get_i64(&in);
        const char *name = relay_get_str(&in);
        double v = relay_get_f64(&in);
        if (in.bad || in.at != len || !stage_ok(stage))
            return bad_frame(err, type, NULL);
        if (s->metric)
            s->metric(s->ctx, stage, epoch, step, name, v);
        break;
    }
    case RELAY_LOG: {
        int stage = relay_get_i32(&in), epoch = relay_get_i32(&in);
        const char *line = relay_get_str(&in);
        if (in.bad || in.at != len || !stage_ok(stage))
            return bad_frame(err, type, NULL);
        if (s->log)
            s->log(s->ctx, stage, epoch, line);
        break;
    }
    case RELAY_CHECKPOINT: {
        int stage = relay_get_i32(&in), epoch = relay_get_i32(&in);
        long step = (long)relay_get_i64(&in);
        size_t n;
        const void *data = relay_get_bytes(&in, &n);
        if (in.bad || in.at != len || !stage_ok(stage))
            return bad_frame(err, type, NULL);
        d->have_answer = true;
        d->answer = s->checkpoint ? s->checkpoint(s->ctx, stage, epoch, step, data, n) : 0;
        break;
    }
    case RELAY_ASSIGNMENTS: {
        int n = relay_get_i32(&in), k = relay_get_i32(&in);
        bool has_labels = relay_get_u32(&in) != 0;
        if (n < 0 || k < 0)
            return bad_frame(err, type, "a negative count");
        const int32_t *assign = relay_get_array(&in, (size_t)n, 4);
        const int32_t *labels = has_labels ? relay_get_array(&in, (size_t)n, 4) : NULL;
        if (in.bad || in.at != len)
            return bad_frame(err, type, NULL);
        /* the arrays sit at a 4-byte offset of a malloc'd payload: aligned */
        d->have_answer = true;
        d->answer = s->assignments ? s->assignments(s->ctx, assign, labels, n, k) : 0;
        break;
    }
    case RELAY_FEATURES: {
        int dim = relay_get_i32(&in), n_train = relay_get_i32(&in), n_test = relay_get_i32(&in);
        if (dim < 0 || n_train < 0 || n_test < 0)
            return bad_frame(err, type, "a negative count");
        const float *tr = relay_get_array(&in, (size_t)n_train * (size_t)dim, 4);
        const int32_t *trl = relay_get_array(&in, (size_t)n_train, 4);
        const float *te = relay_get_array(&in, (size_t)n_test * (size_t)dim, 4);
        const int32_t *tel = relay_get_array(&in, (size_t)n_test, 4);
        if (in.bad || in.at != len)
            return bad_frame(err, type, NULL);
        d->have_answer = true;
        d->answer = s->features ? s->features(s->ctx, dim, tr, trl, n_train, te, tel, n_test) : 0;
        break;
    }
    case RELAY_HOSTS: {
        int n = get_count(&in, 64);
        const char *hosts[64];
        for (int i = 0; i < n; i++)
            hosts[i] = relay_get_str(&in);
        if (in.bad || in.at != len || n < 1)
            return bad_frame(err, type, NULL);
        if (d->hosts)
            d->hosts(d->hosts_ctx, hosts, n);
        break;
    }
    case RELAY_RESULT:
        if (relay_get_result(&in, &d->res, &d->owned, err))
            return -1;
        d->done = d->ok = true;
        break;
    case RELAY_ERROR: {
        const char *msg = relay_get_str(&in);
        if (in.bad || in.at != len)
            return bad_frame(err, type, NULL);
        snprintf(d->error, sizeof d->error, "%s", msg);
        d->done = true;
        d->ok = false;
        break;
    }
    default:
        return gs_errf(err, "relay: rank 0 may not send a %s frame", relay_type_name(type));
    }
    return 0;
}

/* ---- rank 0's side -------------------------------------------------------------------- */

struct RelayClient {
    int fd;
    pthread_t reader;
    bool reader_started;
    pthread_mutex_t send_mu;    /* one frame at a time */
    pthread_mutex_t mu;         /* the fields below */
    pthread_cond_t cv;
    bool answered, lost, closing;
    int32_t answer;
    atomic_int cancel;
};

static int client_send(RelayClient *c, uint32_t type, const RelayBuf *b, GsErr *err)
{
    if (b && b->oom)
        return gs_errf(err, "relay: out of memory for a %s frame", relay_type_name(type));
    pthread_mutex_lock(&c->send_mu);
    int rc = relay_send(c->fd, type, b ? b->p : NULL, b ? b->len : 0, err);
    pthread_mutex_unlock(&c->send_mu);
    if (rc) {
        pthread_mutex_lock(&c->mu);
        c->lost = true;
        pthread_mutex_unlock(&c->mu);
        atomic_store(&c->cancel, 1);
    }
    return rc;
}

/* Sends a frame that waits for the daemon's answer: the answer, or -1 when the connection
 * is gone. */
static int client_call(RelayClient *c, uint32_t type, RelayBuf *b)
{
    GsErr err;
    pthread_mutex_lock(&c->mu);
    c->answered = false;
    pthread_mutex_unlock(&c->mu);
    int rc = client_send(c, type, b, &err);
    relay_buf_free(b);
    if (rc) {
        fprintf(stderr, "gsimclrd: rank 0: %s\n", err.msg);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    while (!c->answered && !c->lost)
        pthread_cond_wait(&c->cv, &c->mu);
    rc = c->answered ? c->answer : -1;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void client_post(RelayClient *c, uint32_t type, RelayBuf *b)
{
    GsErr err;
    if (client_send(c, type, b, &err))
        fprintf(stderr, "gsimclrd: rank 0: %s\n", err.msg);
    relay_buf_free(b);
}

static void *client_reader(void *arg)
{
    RelayClient *c = arg;
    GsErr err;
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int rc = poll(&pfd, 1, RELAY_HEARTBEAT_S * 1000);
        pthread_mutex_lock(&c->mu);
        bool closing = c->closing;
        pthread_mutex_unlock(&c->mu);
        if (closing)
            break;
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0) {
            if (client_send(c, RELAY_HEARTBEAT, NULL, &err))
                break;
            continue;
        }
        uint32_t type;
        uint8_t *p;
        size_t len;
        rc = rc < 0 ? -1 : relay_recv(c->fd, &type, &p, &len, 30000, &err);
        if (rc != 0) {
            if (rc < 0)
                fprintf(stderr, "gsimclrd: rank 0: %s\n", err.msg);
            break;
        }
        if (type == RELAY_CANCEL) {
            atomic_store(&c->cancel, 1);
        } else if (type == RELAY_ANSWER && len == 4) {
            RelayIn in = {.p = p, .len = len};
            pthread_mutex_lock(&c->mu);
            c->answer = relay_get_i32(&in);
            c->answered = true;
            pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
        } else {
            fprintf(stderr, "gsimclrd: rank 0: an unexpected %s frame from the daemon\n",
                    relay_type_name(type));
            free(p);
            break;
        }
        free(p);
    }
    /* the daemon is gone (or we are closing): the run stops at its next step */
    pthread_mutex_lock(&c->mu);
    c->lost = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->cancel, 1);
    return NULL;
}

static void cs_progress(void *ctx, const StageProgress *g)
{
    RelayBuf b = {0};
    relay_put_u32(&b, (uint32_t)g->stage);
    relay_put_u32(&b, (uint32_t)g->epoch);
    relay_put_u32(&b, (uint32_t)g->epochs);
    relay_put_i64(&b, g->step);
    relay_put_i64(&b, g->steps);
    relay_put_f64(&b, g->loss);
    relay_put_f64(&b, g->items_per_s);
    relay_put_f64(&b, g->eta_s);
    client_post(ctx, RELAY_PROGRESS, &b);
}

static void cs_metric(void *ctx, int stage, int epoch, long step, const char *name, double v)
{
    RelayBuf b = {0};
    relay_put_u32(&b, (uint32_t)stage);
    relay_put_u32(&b, (uint32_t)epoch);
    relay_put_i64(&b, step);
    relay_put_str(&b, name);
    relay_put_f64(&b, v);
    client_post(ctx, RELAY_METRIC, &b);
}

static void cs_log(void *ctx, int stage, int epoch, const char *line)
{
    RelayBuf b = {0};
    char cut[SMALL - 64];
    snprintf(cut, sizeof cut, "%s", line);
    relay_put_u32(&b, (uint32_t)stage);
    relay_put_u32(&b, (uint32_t)epoch);
    relay_put_str(&b, cut);
    client_post(ctx, RELAY_LOG, &b);
}

static int cs_checkpoint(void *ctx, int stage, int epoch, long step, const void *data,
                         size_t len)
{
    RelayBuf b = {0};
    relay_put_u32(&b, (uint32_t)stage);
    relay_put_u32(&b, (uint32_t)epoch);
    relay_put_i64(&b, step);
    relay_put_bytes(&b, data, len);
    return client_call(ctx, RELAY_CHECKPOINT, &b);
}

static int cs_assignments(void *ctx, const int32_t *assign, const int32_t *labels, int n, int k)
{
    RelayBuf b = {0};
    relay_put_u32(&b, (uint32_t)n);
    relay_put_u32(&b, (uint32_t)k);
    relay_put_u32(&b, labels != NULL);
    put_array32(&b, assign, (size_t)n);
    if (labels)
        put_array32(&b, labels, (size_t)n);
    return client_call(ctx, RELAY_ASSIGNMENTS, &b);
}

static int cs_features(void *ctx, int d, const float *train, const int32_t *train_labels,
                       int n_train, const float *test, const int32_t *test_labels, int n_test)
{
    RelayBuf b = {0};
    relay_put_u32(&b, (uint32_t)d);
    relay_put_u32(&b, (uint32_t)n_train);
    relay_put_u32(&b, (uint32_t)n_test);
    put_array32(&b, train, (size_t)n_train * (size_t)d);
    put_array32(&b, train_labels, (size_t)n_train);
    put_array32(&b, test, (size_t)n_test * (size_t)d);
    put_array32(&b, test_labels, (size_t)n_test);
    return client_call(ctx, RELAY_FEATURES, &b);
}

Sink relay_client_sink(RelayClient *c)
{
    return (Sink){.progress = cs_progress,
                  .metric = cs_metric,
                  .checkpoint = cs_checkpoint,
                  .log = cs_log,
                  .assignments = cs_assignments,
                  .features = cs_features,
                  .ctx = c,
                  .cancel = &c->cancel};
}

int relay_client_hosts(RelayClient *c, const char *const *hosts, int n, GsErr *err)
{
    RelayBuf b = {0};
    relay_put_u32(&b, (uint32_t)n);
    for (int i = 0; i < n; i++)
        relay_put_str(&b, hosts[i]);
    int rc = client_send(c, RELAY_HOSTS, &b, err);
    relay_buf_free(&b);
    return rc;
}

int relay_client_result(RelayClient *c, const RunResult *res, GsErr *err)
{
    RelayBuf b = {0};
    relay_put_result(&b, res);
    int rc = client_send(c, RELAY_RESULT, &b, err);
    relay_buf_free(&b);
    return rc;
}

int relay_client_error(RelayClient *c, const char *msg, GsErr *err)
{
    RelayBuf b = {0};
    char cut[SMALL - 16];
    snprintf(cut, sizeof cut, "%s", msg);
    relay_put_str(&b, cut);
    int rc = client_send(c, RELAY_ERROR, &b, err);
    relay_buf_free(&b);
    return rc;
}

/* "HOST:PORT/TOKEN" (HOST may be [v6]) into its parts. */
static int parse_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap,
                      char *token, size_t tcap, GsErr *err)
{
    const char *slash = strrchr(addr, '/');
    const char *colon = slash ? memrchr(addr, ':', (size_t)(slash - addr)) : NULL;
    if (!slash || !colon || colon == addr || (size_t)(colon - addr) >= hcap ||
        (size_t)(slash - colon - 1) >= pcap || slash == colon + 1 || strlen(slash + 1) >= tcap)
        return gs_errf(err, "relay: bad address \"%s\" (want HOST:PORT/TOKEN)", addr);
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
        h++, hl -= 2;
    memcpy(host, h, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, (size_t)(slash - colon - 1));
    port[slash - colon - 1] = 0;
    snprintf(token, tcap, "%s", slash + 1);
    return 0;
}

int relay_client_connect(RelayClient **out, const char *addr, uint8_t **job, size_t *job_len,
                         GsErr *err)
{
    char host[256], port[16], token[128];
    *out = NULL;
    *job = NULL;
    *job_len = 0;
    if (parse_addr(addr, host, sizeof host, port, sizeof port, token, sizeof token, err))
        return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc)
        return gs_errf(err, "relay: %s:%s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            gs_errf(err, "relay: connect %s:%s: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    RelayBuf b = {0};
    relay_put_u32(&b, RELAY_VERSION);
    relay_put_str(&b, token);
    rc = b.oom ? gs_errf(err, "relay: out of memory") : relay_send(fd, RELAY_HELLO, b.p, b.len, err);
    relay_buf_free(&b);
    uint32_t type = 0;
    if (rc == 0) {
        rc = relay_recv(fd, &type, job, job_len, 120000, err);
        if (rc == 1)
            rc = gs_errf(err, "relay: the daemon refused this worker (a wrong or used token)");
        else if (rc == 0 && type != RELAY_JOB) {
            free(*job);
            *job = NULL;
            rc = gs_errf(err, "relay: a %s frame where the job was expected",
                         relay_type_name(type));
        }
    }
    if (rc) {
        close(fd);
        return -1;
    }
    RelayClient *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        free(*job);
        *job = NULL;
        return gs_errf(err, "relay: out of memory");
    }
    c->fd = fd;
    pthread_mutex_init(&c->send_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->reader, NULL, client_reader, c) != 0) {
        relay_client_close(c);
        free(*job);
        *job = NULL;
        return gs_errf(err, "relay: cannot start the reader thread");
    }
    c->reader_started = true;
    *out = c;
    return 0;
}

void relay_client_close(RelayClient *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_mutex_unlock(&c->mu);
    /* the reader wakes from its poll within a heartbeat; shutting the socket wakes it now */
    shutdown(c->fd, SHUT_RDWR);
    if (c->reader_started)
        pthread_join(c->reader, NULL);
    close(c->fd);
    pthread_mutex_destroy(&c->send_mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
