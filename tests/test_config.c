/* test_config.c — the run configuration: defaults are valid, every field survives
 * to_json -> parse, and each kind of bad body is refused with the field's path in the message
 * and the caller's RunConfig reset to the defaults. It must not depend on any data or network. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gs/config.h"
#include "harness.h"

/* The first field where a and b differ, or NULL. Field by field, so padding never matters. */
static const char *config_diff(const RunConfig *a, const RunConfig *b)
{
#define SAME(f)              \
    do {                     \
        if (a->f != b->f)    \
            return #f;       \
    } while (0)
    SAME(method);
    if (strcmp(a->name, b->name) != 0)
        return "name";
    if (strcmp(a->dataset, b->dataset) != 0)
        return "dataset";
    SAME(subset);
    SAME(subset_random);
    SAME(test_subset);
    SAME(seed);
    SAME(threads);
    SAME(processes);
    SAME(dae.net.in_c);
    SAME(dae.net.in_h);
    SAME(dae.net.in_w);
    SAME(dae.net.n_filters);
    for (int i = 0; i < a->dae.net.n_filters; i++)
        SAME(dae.net.filters[i]);
    SAME(dae.epochs);
    SAME(dae.batch);
    SAME(dae.lr);
    SAME(dae.noise);
    SAME(kmeans.k);
    SAME(kmeans.n_init);
    SAME(kmeans.max_iter);
    SAME(kmeans.tol);
    SAME(simclr.encoder.arch);
    SAME(simclr.encoder.in_c);
    SAME(simclr.encoder.in_h);
    SAME(simclr.encoder.in_w);
    SAME(simclr.encoder.width);
    SAME(simclr.encoder.n_widths);
    for (int i = 0; i < a->simclr.encoder.n_widths; i++)
        SAME(simclr.encoder.widths[i]);
    SAME(simclr.encoder.stages);
    SAME(simclr.encoder.blocks);
    SAME(simclr.encoder.n_head);
    for (int i = 0; i < a->simclr.encoder.n_head; i++)
        SAME(simclr.encoder.head[i]);
    SAME(simclr.epochs);
    SAME(simclr.batch);
    SAME(simclr.optimizer);
    SAME(simclr.lr);
    SAME(simclr.weight_decay);
    SAME(simclr.momentum);
    SAME(simclr.warmup_epochs);
    SAME(simclr.tau);
    SAME(simclr.aug.crop_scale_min);
    SAME(simclr.aug.crop_scale_max);
    SAME(simclr.aug.crop_ratio_min);
    SAME(simclr.aug.crop_ratio_max);
    SAME(simclr.aug.flip_p);
    SAME(simclr.aug.jitter_p);
    SAME(simclr.aug.brightness);
    SAME(simclr.aug.contrast);
    SAME(simclr.aug.saturation);
    SAME(simclr.aug.hue);
    SAME(simclr.aug.gray_p);
    SAME(simclr.knn_every);
    SAME(simclr.checkpoint_every);
    SAME(eval.linear.epochs);
    SAME(eval.linear.batch);
    SAME(eval.linear.lr);
    SAME(eval.linear.val_fraction);
    SAME(eval.linear.n_weight_decays);
    for (int i = 0; i < a->eval.linear.n_weight_decays; i++)
        SAME(eval.linear.weight_decays[i]);
    SAME(eval.linear.seed);
    SAME(eval.knn_k);
    SAME(eval.knn_temperature);
#undef SAME
    return NULL;
}

static int parse_str(RunConfig *cfg, const char *json, GsErr *err)
{
    return run_config_parse(cfg, json, strlen(json), err);
}

/* A configuration with every field away from its default (floats chosen to have no short
 * decimal form, so the printer's precision is exercised). */
static RunConfig config_unusual(void)
{
    RunConfig c;
    run_config_defaults(&c);
    c.method = METHOD_SIMCLR;
    snprintf(c.name, sizeof c.name, "%s", "quote \" back\\slash \xc3\xa9t\xc3\xa9 / tab-free");
    snprintf(c.dataset, sizeof c.dataset, "%s", "/data/cifar-10-batches-bin");
    c.subset = 12345;
    c.subset_random = true;
    c.test_subset = 999;
    c.seed = 9007199254740992ULL; /* 2^53, the largest seed JSON carries exactly */
    c.threads = 7;
    c.processes = 16;
    c.dae.net.filters[0] = 8;
    c.dae.net.filters[1] = 16;
    c.dae.net.n_filters = 2;
    c.dae.epochs = 0;
    c.dae.batch = 2;
    c.dae.lr = 3.14159274e-4f;
    c.dae.noise = 1.0f / 3.0f;
    c.kmeans.k = 4096;
    c.kmeans.n_init = 100;
    c.kmeans.max_iter = 1;
    c.kmeans.tol = 0.0f;
    c.simclr.encoder.arch = ARCH_CNN3;
    c.simclr.encoder.width = 17;
    c.simclr.encoder.n_widths = 0;           /* width doubling; widths: config_encoder_widths */
    c.simclr.encoder.stages = 4;
    c.simclr.encoder.blocks = 16;
    c.simclr.encoder.head[0] = 8192;
    c.simclr.encoder.head[1] = 3;
    c.simclr.encoder.head[2] = 1;
    c.simclr.encoder.head[3] = 77;
    c.simclr.encoder.n_head = 4;
    c.simclr.epochs = 10000;
    c.simclr.batch = 4096;
    c.simclr.optimizer = OPT_LARS;
    c.simclr.lr = 10.0f;
    c.simclr.weight_decay = 1.17549435e-38f; /* FLT_MIN */
    c.simclr.momentum = 0.99999994f;         /* the float just below 1 */
    c.simclr.warmup_epochs = 2.5f;
    c.simclr.tau = 0.07f;
    c.simclr.aug.crop_scale_min = 1.0f;
    c.simclr.aug.crop_scale_max = 1.0f;
    c.simclr.aug.crop_ratio_min = 0.1f;
    c.simclr.aug.crop_ratio_max = 100.0f;
    c.simclr.aug.flip_p = 0.0f;
    c.simclr.aug.jitter_p = 1.0f;
    c.simclr.aug.brightness = 0.123456789f;
    c.simclr.aug.contrast = 0.9f;
    c.simclr.aug.saturation = 0.0f;
    c.simclr.aug.hue = 0.5f;
    c.simclr.aug.gray_p = 0.7f;
    c.simclr.knn_every = 5;
    c.simclr.checkpoint_every = 3;
    c.eval.linear.epochs = 1;
    c.eval.linear.batch = 65536;
    c.eval.linear.lr = 2e-2f;
    c.eval.linear.val_fraction = 0.25f;
    for (int i = 0; i < 8; i++)
        c.eval.linear.weight_decays[i] = (float)i * 1e-3f + 1e-7f;
    c.eval.linear.n_weight_decays = 8;
    c.eval.knn_k = 1;
    c.eval.knn_temperature = 10.0f;
    return c;
}

TEST(config_defaults_valid)
{
    RunConfig d, p;
    GsErr err = {{0}};
    run_config_defaults(&d);
    CHECK_INT_EQ(d.method, METHOD_GSIMCLR);
    CHECK(strcmp(d.dataset, "fashion-mnist") == 0);
    CHECK_INT_EQ(d.seed, 1);
    CHECK_INT_EQ(d.threads, 2);
    CHECK_INT_EQ(d.processes, 1);
    CHECK_INT_EQ(d.kmeans.k, 512);
    CHECK_INT_EQ(d.simclr.encoder.arch, ARCH_CNN3);
    CHECK_INT_EQ(d.simclr.encoder.stages, 3);
    CHECK_INT_EQ(d.simclr.encoder.n_widths, 3);
    CHECK_INT_EQ(d.simclr.encoder.widths[0], 24);
    CHECK_INT_EQ(d.simclr.encoder.widths[1], 48);
    CHECK_INT_EQ(d.simclr.encoder.widths[2], 384);
    CHECK_INT_EQ(d.simclr.epochs, 28);
    CHECK_CLOSE(d.simclr.aug.crop_scale_min, 0.5, 0);
    CHECK_INT_EQ(d.simclr.batch, 64);
    CHECK_CLOSE(d.simclr.lr, 3e-3, 1e-9);
    CHECK_INT_EQ(d.simclr.optimizer, OPT_ADAM);
    CHECK_CLOSE(d.simclr.tau, 0.2, 1e-7);
    CHECK_INT_EQ(d.eval.knn_k, 200);
    /* An empty object is the defaults, and the defaults pass every range check. */
    CHECK_INT_EQ(parse_str(&p, "{}", &err), 0);
    const char *diff = config_diff(&p, &d);
    CHECK_MSG(diff == NULL, "{} differs from the defaults at %s", diff ? diff : "");
    char *text = run_config_to_json(&d);
    CHECK(text != NULL);
    if (text) {
        CHECK_MSG(parse_str(&p, text, &err) == 0, "defaults do not parse back: %s", err.msg);
        diff = config_diff(&p, &d);
        CHECK_MSG(diff == NULL, "defaults round trip differs at %s", diff ? diff : "");
        /* floats print in their shortest form */
        CHECK_MSG(strstr(text, "\"lr\":0.003,") != NULL, "lr printed long: %s", text);
        free(text);
    }
}

TEST(config_round_trip_every_field)
{
    RunConfig want = config_unusual(), got;
    GsErr err = {{0}};
    char *text = run_config_to_json(&want);
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK_MSG(parse_str(&got, text, &err) == 0, "round trip parse failed: %s\n%s", err.msg,
              text);
    const char *diff = config_diff(&got, &want);
    CHECK_MSG(diff == NULL, "round trip differs at %s\n%s", diff ? diff : "", text);
    /* enums as strings, the seed as an exact integer */
    CHECK(strstr(text, "\"method\":\"simclr\"") != NULL);
    CHECK(strstr(text, "\"optimizer\":\"lars\"") != NULL);
    CHECK(strstr(text, "\"arch\":\"cnn3\"") != NULL);
    CHECK(strstr(text, "\"seed\":9007199254740992") != NULL);

    /* Every field is present: each leaf counted in the printed tree. */
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL);
    if (root) {
        int top = cJSON_GetArraySize(root);
        CHECK_INT_EQ(top, 13);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "dae")), 5);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "kmeans")), 4);
        cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "simclr");
        CHECK_INT_EQ(cJSON_GetArraySize(sc), 12);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sc, "encoder")), 5);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sc, "augment")), 11);
        cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "eval");
        CHECK_INT_EQ(cJSON_GetArraySize(ev), 4);
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "linear")), 5);
        /* eval.finetune's fields: their values are tested in test_finetune.c */
        CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "finetune")), 9);
        cJSON_Delete(root);
    }
    /* and a second trip prints the same text */
    char *again = run_config_to_json(&got);
    CHECK(again != NULL && strcmp(again, text) == 0);
    free(again);
    free(text);
}

TEST(config_partial_over_defaults)
{
    RunConfig c, d;
    GsErr err = {{0}};
    run_config_defaults(&d);
    const char *body =
        " {\"method\": \"simclr\", \"seed\": 42, \"subset\": 1000,\n"
        "  \"simclr\": {\"batch\": 64, \"encoder\": {\"arch\": \"cnn3\", \"head\": [256]},\n"
        "              \"augment\": {\"crop_scale\": [0.08, 1]}},\n"
        "  \"dae\": {\"filters\": [16]},\n"
        "  \"eval\": {\"linear\": {\"weight_decays\": [0]}, \"knn_k\": 2e1}} \n";
    CHECK_MSG(parse_str(&c, body, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(c.method, METHOD_SIMCLR);
    CHECK_INT_EQ(c.seed, 42);
    CHECK_INT_EQ(c.subset, 1000);
    CHECK_INT_EQ(c.simclr.batch, 64);
    CHECK_INT_EQ(c.simclr.encoder.arch, ARCH_CNN3);
    CHECK_INT_EQ(c.simclr.encoder.n_head, 1);
    CHECK_INT_EQ(c.simclr.encoder.head[0], 256);
    CHECK_INT_EQ(c.simclr.encoder.width, d.simclr.encoder.width);
    CHECK_CLOSE(c.simclr.aug.crop_scale_min, 0.08, 1e-7);
    CHECK_CLOSE(c.simclr.aug.flip_p, d.simclr.aug.flip_p, 0);
    CHECK_INT_EQ(c.dae.net.n_filters, 1);
    CHECK_INT_EQ(c.eval.linear.n_weight_decays, 1);
    CHECK_INT_EQ(c.eval.knn_k, 20);
    CHECK_INT_EQ(c.simclr.epochs, d.simclr.epochs);
    CHECK_INT_EQ(c.kmeans.k, d.kmeans.k);
}

/* Stage widths: "widths" sets the stages too; "width" or "stages" alone means doubling; the
 * defaults' widths stay when neither is given; each form survives a round trip. */
TEST(config_encoder_widths)
{
    RunConfig c, back;
    GsErr err = {{0}};
    CHECK_MSG(parse_str(&c, "{\"simclr\": {\"encoder\": {\"widths\": [8, 16, 32, 64]}}}",
                        &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(c.simclr.encoder.stages, 4);
    CHECK_INT_EQ(c.simclr.encoder.n_widths, 4);
    CHECK_INT_EQ(c.simclr.encoder.widths[3], 64);
    CHECK_MSG(parse_str(&c, "{\"simclr\": {\"encoder\": {\"widths\": [5], \"stages\": 1}}}",
                        &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(c.simclr.encoder.stages, 1);
    CHECK_INT_EQ(c.simclr.encoder.widths[0], 5);
    CHECK_MSG(parse_str(&c, "{\"simclr\": {\"encoder\": {\"width\": 8}}}", &err) == 0, "%s",
              err.msg);
    CHECK_INT_EQ(c.simclr.encoder.n_widths, 0);
    CHECK_INT_EQ(c.simclr.encoder.width, 8);
    CHECK_INT_EQ(encoder_stage_width(&c.simclr.encoder, 2), 32);
    CHECK_MSG(parse_str(&c, "{\"simclr\": {\"encoder\": {\"stages\": 2}}}", &err) == 0, "%s",
              err.msg);
    CHECK_INT_EQ(c.simclr.encoder.n_widths, 0);
    CHECK_INT_EQ(encoder_stage_width(&c.simclr.encoder, 1), 64);
    CHECK_MSG(parse_str(&c, "{\"simclr\": {\"encoder\": {\"head\": [32]}}}", &err) == 0, "%s",
              err.msg);
    CHECK_INT_EQ(c.simclr.encoder.n_widths, 3);
    CHECK_INT_EQ(encoder_stage_width(&c.simclr.encoder, 2), 384);

    const char *bodies[] = {"{\"simclr\": {\"encoder\": {\"widths\": [7, 9]}}}",
                            "{\"simclr\": {\"encoder\": {\"width\": 12, \"stages\": 2}}}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        CHECK_MSG(parse_str(&c, bodies[i], &err) == 0, "%s", err.msg);
        char *text = run_config_to_json(&c);
        CHECK(text != NULL);
        if (!text)
            continue;
        CHECK_MSG(parse_str(&back, text, &err) == 0, "%s: %s", text, err.msg);
        const char *diff = config_diff(&back, &c);
        CHECK_MSG(diff == NULL, "%s: differs at %s", bodies[i], diff ? diff : "");
        free(text);
    }
}

/* The edges of the ranges are accepted; depth 8 is allowed (its error is the unknown key). */
TEST(config_boundaries_accepted)
{
    RunConfig c;
    GsErr err = {{0}};
    static const char *ok[] = {
        "{\"seed\": 0}",
        "{\"seed\": 9007199254740992}",
        "{\"simclr\": {\"epochs\": 0}, \"dae\": {\"epochs\": 0}}",
        "{\"simclr\": {\"lr\": 10, \"batch\": 4096}}",
        "{\"dae\": {\"noise\": 0, \"batch\": 2}}",
        "{\"kmeans\": {\"k\": 2, \"tol\": 0}}",
        "{\"threads\": 64, \"subset\": 100000000}",
        "{\"simclr\": {\"augment\": {\"crop_scale\": [1, 1], \"hue\": 0.5}}}",
        "{\"dae\": {\"epochs\": 1.0}}",
        "{\"name\": \"\"}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK_MSG(parse_str(&c, ok[i], &err) == 0, "refused %s: %s", ok[i], err.msg);

    char name[200], dataset[600];
    memset(name, 'n', 127);
    name[127] = '\0';
    memset(dataset, 'd', 511);
    dataset[511] = '\0';
    char body[1000];
    snprintf(body, sizeof body, "{\"name\": \"%s\", \"dataset\": \"%s\"}", name, dataset);
    CHECK_MSG(parse_str(&c, body, &err) == 0, "longest strings refused: %s", err.msg);
    CHECK_INT_EQ(strlen(c.name), 127);
    CHECK_INT_EQ(strlen(c.dataset), 511);

    CHECK_INT_EQ(parse_str(&c, "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}",
                           &err), -1);
    CHECK_MSG(strstr(err.msg, "a: unknown field") != NULL, "depth 8: %s", err.msg);
}

/* The body need not be NUL-terminated, and nothing past len is read (ASan checks the read
 * of this exact-size allocation). */
TEST(config_exact_length_body)
{
    RunConfig c;
    GsErr err = {{0}};
    const char *text = "{\"seed\": 5}";
    size_t n = strlen(text);
    char *buf = malloc(n);
    CHECK(buf != NULL);
    if (!buf)
        return;
    memcpy(buf, text, n);
    CHECK_MSG(run_config_parse(&c, buf, n, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(c.seed, 5);
    /* a prefix that stops mid-number is truncated JSON */
    CHECK_INT_EQ(run_config_parse(&c, buf, n - 1, &err), -1);
    free(buf);
    /* bytes after len are not part of the body */
    CHECK_MSG(run_config_parse(&c, "{\"seed\": 6}garbage", 11, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(c.seed, 6);
}

typedef struct {
    const char *json;
    const char *want; /* substring the message must contain */
} Bad;

TEST(config_errors_name_the_field)
{
    static const Bad bad[] = {
        /* unknown keys, at every level, matched case-sensitively */
        {"{\"bogus\": 1}", "bogus: unknown field"},
        {"{\"Seed\": 1}", "Seed: unknown field"},
        {"{\"simclr\": {\"batchsize\": 64}}", "simclr.batchsize: unknown field"},
        {"{\"simclr\": {\"augment\": {\"sharpen\": 0.5}}}",
         "simclr.augment.sharpen: unknown field"},
        {"{\"eval\": {\"linear\": {\"seed\": 1}}}", "eval.linear.seed: unknown field"},
        /* wrong types */
        {"{\"dae\": {\"epochs\": \"10\"}}", "dae.epochs: must be an integer"},
        {"{\"method\": \"byol\"}", "method: must be one of gsimclr, simclr, supervised"},
        {"{\"method\": 1}", "method: must be one of gsimclr, simclr, supervised"},
        {"{\"dataset\": 5}", "dataset: must be a string"},
        {"{\"subset_random\": 1}", "subset_random: must be true or false"},
        {"{\"simclr\": 3}", "simclr: must be an object"},
        {"{\"eval\": {\"linear\": []}}", "eval.linear: must be an object"},
        {"{\"simclr\": {\"temperature\": null}}", "simclr.temperature: must be a number"},
        {"{\"simclr\": {\"encoder\": {\"head\": 128}}}", "simclr.encoder.head: must be an array"},
        {"{\"simclr\": {\"encoder\": {\"head\": [128, \"x\"]}}}",
         "simclr.encoder.head[1]: must be an integer"},
        {"{\"simclr\": {\"optimizer\": \"rmsprop\"}}",
         "simclr.optimizer: must be one of sgd, adam, adamw, lars"},
        {"{\"simclr\": {\"encoder\": {\"arch\": \"vit\"}}}",
         "simclr.encoder.arch: must be one of cnn3, resnet"},
        /* stage widths: one per stage, either form but not both */
        {"{\"simclr\": {\"encoder\": {\"widths\": [16, 32], \"stages\": 3}}}",
         "simclr.encoder.widths: 2 widths for 3 stages"},
        {"{\"simclr\": {\"encoder\": {\"widths\": [16], \"width\": 16}}}",
         "simclr.encoder.widths: give \"width\" (doubled per stage) or \"widths\", not both"},
        {"{\"simclr\": {\"encoder\": {\"widths\": []}}}",
         "simclr.encoder.widths: must have 1..4 values, got 0"},
        {"{\"simclr\": {\"encoder\": {\"widths\": [8, 8, 8, 8, 8]}}}",
         "simclr.encoder.widths: must have 1..4 values, got more"},
        {"{\"simclr\": {\"encoder\": {\"widths\": [8, 1025]}}}",
         "simclr.encoder.widths[1]: must be an integer in 1..1024"},
        /* integers: integral, finite, in range, checked before conversion */
        {"{\"dae\": {\"epochs\": 3.5}}", "dae.epochs: must be an integer in 0..10000, got 3.5"},
        {"{\"seed\": 1e300}", "seed: must be an integer in 0..9007199254740992"},
        {"{\"seed\": 9007199254740994}", "seed: must be an integer"},
        {"{\"seed\": -1}", "seed: must be an integer"},
        {"{\"threads\": -1}", "threads: must be an integer in 1..64"},
        {"{\"threads\": 0}", "threads: must be an integer in 1..64"},
        {"{\"processes\": 0}", "processes: must be an integer in 1..64"},
        {"{\"processes\": 65}", "processes: must be an integer in 1..64"},
        {"{\"processes\": 1.5}", "processes: must be an integer in 1..64"},
        /* the global batch splits evenly, whichever field comes first */
        {"{\"processes\": 3}", "processes: simclr.batch (64) must be a multiple of processes (3)"},
        {"{\"simclr\": {\"batch\": 10}, \"processes\": 4}",
         "processes: simclr.batch (10) must be a multiple of processes (4)"},
        {"{\"simclr\": {\"batch\": 1}}", "simclr.batch: must be an integer in 2..4096"},
        {"{\"subset\": 100000001}", "subset: must be an integer in 0..100000000"},
        {"{\"kmeans\": {\"k\": 1e999}}", "kmeans.k: must be an integer"},
        {"{\"eval\": {\"knn_k\": 0}}", "eval.knn_k: must be an integer in 1..10000"},
        /* floats: ranges, also after rounding to float */
        {"{\"simclr\": {\"lr\": 0}}", "simclr.lr: must be a number in (0, 10]"},
        {"{\"simclr\": {\"lr\": 1e-60}}", "simclr.lr: must be a number in (0, 10]"},
        {"{\"simclr\": {\"lr\": 1e999}}", "simclr.lr: must be a number in (0, 10]"},
        {"{\"dae\": {\"noise\": 1.5}}", "dae.noise: must be a number in [0, 1]"},
        {"{\"kmeans\": {\"tol\": 1}}", "kmeans.tol: must be a number in [0, 1)"},
        {"{\"simclr\": {\"augment\": {\"flip\": -0.1}}}", "simclr.augment.flip: must be a number"},
        {"{\"simclr\": {\"augment\": {\"crop_scale\": [0.8, 0.2]}}}",
         "simclr.augment.crop_scale: must be [min, max] with min <= max"},
        {"{\"simclr\": {\"augment\": {\"crop_scale\": [0.2]}}}",
         "simclr.augment.crop_scale: must have 2..2 values"},
        {"{\"simclr\": {\"augment\": {\"crop_scale\": [0, 1]}}}",
         "simclr.augment.crop_scale[0]: must be a number in (0, 1]"},
        {"{\"simclr\": {\"augment\": {\"crop_ratio\": [0.5, 1, 2]}}}",
         "simclr.augment.crop_ratio: must have 2..2 values"},
        /* arrays: counts and elements */
        {"{\"simclr\": {\"encoder\": {\"head\": []}}}", "simclr.encoder.head: must have 1..4"},
        {"{\"dae\": {\"filters\": [32, 64, 128, 256, 512]}}", "dae.filters: must have 1..4"},
        {"{\"dae\": {\"filters\": [32, 0]}}", "dae.filters[1]: must be an integer in 1..1024"},
        {"{\"eval\": {\"linear\": {\"weight_decays\": [0, -1]}}}",
         "eval.linear.weight_decays[1]: must be a number in [0, 100]"},
        {"{\"eval\": {\"linear\": {\"weight_decays\": [0,0,0,0,0,0,0,0,0]}}}",
         "eval.linear.weight_decays: must have 1..8"},
        /* strings */
        {"{\"dataset\": \"\"}", "dataset: must not be empty"},
        {"{\"dataset\": \"a\\u0000b\"}", "dataset: strings must not contain \\u0000"},
        {"{\"simclr\": {\"x\\u0000y\": 1}}", "simclr.x: strings must not contain \\u0000"},
        {"{\"name\": \"tab\\there\"}", "name: must not contain control characters"},
        {"{\"name\": \"\xff\xfe\"}", "name: must be valid UTF-8"},
        /* duplicates */
        {"{\"seed\": 1, \"seed\": 2}", "seed: duplicate field"},
        {"{\"kmeans\": {\"k\": 8, \"k\": 8}}", "kmeans.k: duplicate field"},
        /* not a JSON object, or not JSON at all */
        {"", "body: empty"},
        {"[1, 2]", "body: must be a JSON object, got an array"},
        {"\"gsimclr\"", "body: must be a JSON object, got a string"},
        {"null", "body: must be a JSON object, got null"},
        {"{\"seed\": 1", "body: invalid JSON"},
        {"{\"simclr\": {\"lr\": NaN}}", "body: invalid JSON"},
        {"{\"simclr\": {\"lr\": -Infinity}}", "body: invalid JSON"},
        {"{\"seed\": 1} x", "body: unexpected text after the JSON object"},
        {"   ", "body: invalid JSON"},
        /* nesting: 9 levels, and 1000 */
        {"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}",
         "a.b.c.d.e.f.g.h: JSON nested deeper than 8 levels"},
    };
    RunConfig d, c;
    GsErr err;
    run_config_defaults(&d);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = config_unusual(); /* must come back as the defaults */
        memset(&err, 0, sizeof err);
        int rc = parse_str(&c, bad[i].json, &err);
        CHECK_MSG(rc == -1, "accepted: %s", bad[i].json);
        CHECK_MSG(strstr(err.msg, bad[i].want) != NULL, "for %s\n      want \"%s\"\n      got  \"%s\"",
                  bad[i].json, bad[i].want, err.msg);
        const char *diff = config_diff(&c, &d);
        CHECK_MSG(diff == NULL, "after %s cfg is not the defaults (%s)", bad[i].json,
                  diff ? diff : "");
    }
}

/* Bodies that cannot be string literals: 1000 levels of brackets, a 512-byte dataset, a raw
 * NUL byte inside the body. */
TEST(config_errors_built_bodies)
{
    RunConfig c, d;
    GsErr err = {{0}};
    run_config_defaults(&d);

    char deep[2002];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    deep[2000] = '\0';
    c = config_unusual();
    CHECK_INT_EQ(run_config_parse(&c, deep, 2000, &err), -1);
    CHECK_MSG(strstr(err.msg, "[0][0][0][0][0][0][0][0]: JSON nested deeper than 8") != NULL,
              "%s", err.msg);
    CHECK(config_diff(&c, &d) == NULL);

    char body[700], dataset[513];
    memset(dataset, 'd', 512);
    dataset[512] = '\0';
    snprintf(body, sizeof body, "{\"dataset\": \"%s\"}", dataset);
    c = config_unusual();
    CHECK_INT_EQ(parse_str(&c, body, &err), -1);
    CHECK_MSG(strstr(err.msg, "dataset: must be at most 511 bytes, got 512") != NULL, "%s",
              err.msg);
    CHECK(config_diff(&c, &d) == NULL);

    char name[129];
    memset(name, 'n', 128);
    name[128] = '\0';
    snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
    CHECK_INT_EQ(parse_str(&c, body, &err), -1);
    CHECK_MSG(strstr(err.msg, "name: must be at most 127 bytes") != NULL, "%s", err.msg);

    static const char nul_body[] = "{\"seed\": 1}\0{\"seed\": 2}";
    c = config_unusual();
    CHECK_INT_EQ(run_config_parse(&c, nul_body, sizeof nul_body - 1, &err), -1);
    CHECK_MSG(strstr(err.msg, "body: NUL byte at offset 11") != NULL, "%s", err.msg);
    CHECK(config_diff(&c, &d) == NULL);

    /* a long unknown key is shortened and made printable in the message */
    char key[300];
    memset(key, 'k', 200);
    key[200] = '\0';
    snprintf(body, sizeof body, "{\"simclr\": {\"%s\": 1}}", key);
    CHECK_INT_EQ(parse_str(&c, body, &err), -1);
    CHECK_MSG(strstr(err.msg, "simclr.kkkk") != NULL && strstr(err.msg, "...: unknown field") &&
                  strlen(err.msg) < 120,
              "%s", err.msg);

    CHECK_INT_EQ(run_config_parse(&c, NULL, 0, &err), -1);
    CHECK(strstr(err.msg, "body: empty") != NULL);
}

TEST(config_load_file)
{
    RunConfig cfg;
    GsErr err = {{0}};
    char dir[] = "/tmp/gs_config_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/c.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"seed\": 9, \"simclr\": {\"batch\": 32}}", f);
    fclose(f);
    CHECK_MSG(run_config_load_file(&cfg, path, &err) == 0, "%s", err.msg);
    CHECK_INT_EQ(cfg.seed, 9);
    CHECK_INT_EQ(cfg.simclr.batch, 32);

    f = fopen(path, "w");
    fputs("{\"simclr\": {\"batch\": 1}}", f);
    fclose(f);
    CHECK(run_config_load_file(&cfg, path, &err) == -1);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "simclr.batch"), "%s", err.msg);
    CHECK_INT_EQ(cfg.simclr.batch, 64); /* back to the defaults */
    remove(path);
    CHECK(run_config_load_file(&cfg, path, &err) == -1);
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s", err.msg);
    rmdir(dir);
}

/* Every committed run config (examples/, its history/ of earlier defaults, bench/tune/) loads:
 * the tables in BENCHMARKS.md name them as the way to reproduce each figure. */
TEST(config_committed_files_load)
{
    static const char *const patterns[] = {"examples/*.json", "examples/history/*.json",
                                           "bench/tune/*.json"};
    size_t total = 0;
    for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
        glob_t g;
        CHECK_INT_EQ(glob(patterns[p], 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++, total++) {
            /* a sweep is not a run config (test_sweeps.c plans those) */
            if (strncmp(g.gl_pathv[i], "examples/sweep-", 15) == 0)
                continue;
            RunConfig cfg;
            GsErr err = {{0}};
            CHECK_MSG(run_config_load_file(&cfg, g.gl_pathv[i], &err) == 0, "%s", err.msg);
        }
        globfree(&g);
    }
    CHECK_MSG(total >= 20, "only %zu committed configs found", total);
}
