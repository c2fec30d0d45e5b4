# gsimclr — one flat build for everything. `make` builds bin/ and build/; `make test` runs every
# test; `make asan` / `make tsan` run them under sanitizers; `make fuzz` runs the libFuzzer
# harnesses of fuzz/; `make bench-step` compares a SimCLR step with PyTorch. The first build
# runs scripts/install-deps (it does nothing when all the Debian packages are present).

CC      ?= gcc
PKGS    := libmicrohttpd libcjson sqlite3 openblas zlib libpng libjpeg libcurl libprotobuf-c ompi-c
OPT     ?= -O3
OMP     ?= -fopenmp
CFLAGS  := -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L $(OPT) -g \
           $(OMP) -Iinclude -MMD -MP
LDLIBS  ?= $(OMP) -lm -lpthread
DEPS_OK := build/.deps-ok

# pkg-config is asked only once the packages are there (after install-deps has run).
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

BASE_SRC := $(wildcard server/base/*.c)
NN_SRC   := $(wildcard server/nn/*.c)
DATA_SRC := $(wildcard server/data/*.c)
PIPE_SRC := $(wildcard server/pipeline/*.c)
CORE_SRC := $(BASE_SRC) $(NN_SRC) $(DATA_SRC) $(PIPE_SRC)
# the daemon's modules (all but main.c), linked into bin/gsimclrd and the tests
SVC_SRC  := $(filter-out server/service/main.c,$(wildcard server/service/*.c))
CLI_SRC  := $(wildcard client/*.c)
TEST_SRC := $(wildcard tests/*.c)
SCHEMA   := $(sort $(wildcard schema/*.sql))

# BUILD is the object directory; sanitizer builds use their own so nothing mixes.
BUILD ?= build
# The ONNX exporter's protobuf-c code, generated at build time by protoc-c from the onnx.proto
# Debian ships (libonnx-dev); nothing generated is committed.
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_GEN   := $(BUILD)/gen/onnx.pb-c
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(ONNX_GEN).o
SVC_OBJ  := $(SVC_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o $(BUILD)/gen/openapi_json.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

TEST_BIN  := $(BUILD)/tests/run_tests
BENCH_BIN := $(BUILD)/bench/bench_step
KMEANS_BIN := $(BUILD)/bench/bench_kmeans
EMBED_BIN := $(BUILD)/bench/dae_embed
PIXELS_BIN := $(BUILD)/bench/eval_pixels
DECODE_BIN := $(BUILD)/bench/bench_decode
DISTB_BIN := $(BUILD)/bench/bench_dist
CONVB_BIN := $(BUILD)/bench/bench_conv
# the data-parallel tests' driver (tests/test_dist.c runs it under mpirun)
DIST_BIN  := $(BUILD)/tests/dist/dist_check
EMBEDDINGS := build/embeddings.gsem

.PHONY: all test test-web test-openapi asan tsan bench bench-conv bench-step bench-kmeans bench-api bench-decode bench-dist \
        demo clean deps fixtures soak fuzz fuzz-build fuzz-bins fuzz-seeds
all: $(DEPS_OK) bin/gsimclrd bin/gsimclr $(TEST_BIN) $(DIST_BIN)

$(DEPS_OK): scripts/install-deps web/package-lock.json tests/web/package-lock.json \
            tests/openapi/package-lock.json
	@mkdir -p $(dir $@)
	scripts/install-deps
	@touch $@

deps:
	scripts/install-deps

# V=1 shows the whole command lines.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -I$(BUILD)/gen -c $< -o $@

$(ONNX_GEN).c $(ONNX_GEN).h &: $(ONNX_PROTO) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)protoc-c --c_out=$(BUILD)/gen --proto_path=$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(ONNX_GEN).o: $(ONNX_GEN).c $(ONNX_GEN).h
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -I$(BUILD)/gen -c $< -o $@

# the files that include the generated header wait for it
$(BUILD)/server/pipeline/export_onnx.o $(BUILD)/tests/test_export.o: $(ONNX_GEN).h

# The SQL migrations are compiled in, so the daemon needs no files beside it but web/.
$(BUILD)/gen/schema_sql.c: $(SCHEMA) scripts/embed-sql
	@mkdir -p $(dir $@)
	$(Q)scripts/embed-sql $(SCHEMA) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The API's OpenAPI description is compiled in too: GET /v1/openapi.json serves the contract
# of the binary that answers, whatever files lie beside it.
$(BUILD)/gen/openapi_json.c: docs/openapi.json scripts/embed-text
	@mkdir -p $(dir $@)
	$(Q)scripts/embed-text OPENAPI_JSON docs/openapi.json > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/openapi_json.o: $(BUILD)/gen/openapi_json.c
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

bin/gsimclrd: $(BUILD)/server/service/main.o $(SVC_OBJ) $(CORE_OBJ)
	@mkdir -p bin
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

bin/gsimclr: $(CLI_OBJ)
	@mkdir -p bin
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(SVC_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(DIST_BIN): $(BUILD)/tests/dist/dist_check.o $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BENCH_BIN) $(KMEANS_BIN) $(EMBED_BIN) $(PIXELS_BIN) $(DECODE_BIN) $(DISTB_BIN) $(CONVB_BIN): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# Tests run from the repository root (fixtures are read from tests/fixtures).
# The C suite, then the web page in headless Chromium; the daemon tests start bin/gsimclrd
# (GS_DAEMON) and the CLI tests bin/gsimclr (GS_CLI) as child processes.
test: $(DEPS_OK) $(TEST_BIN) bin/gsimclrd bin/gsimclr $(DIST_BIN)
	tests/run-all $(TEST_BIN)

test-web: $(DEPS_OK) bin/gsimclrd
	node tests/web/test_web.mjs

# The OpenAPI document alone (valid, and the route table's routes); `make test` also checks
# every answer the API tests received against it.
test-openapi: $(DEPS_OK)
	node tests/openapi/check.mjs

# The data-parallel tests compare runs with the normal build's driver ($(DIST_BIN)); the ASan
# driver runs in dist_asan_driver_is_clean (tests/test_dist.c).
asan: $(DEPS_OK) bin/gsimclrd bin/gsimclr $(DIST_BIN)
	$(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDLIBS="-fsanitize=address,undefined -fopenmp -lm -lpthread" build-asan/tests/run_tests \
	    build-asan/tests/dist/dist_check
	GS_DIST_ASAN=build-asan/tests/dist/dist_check \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/run_tests

# ThreadSanitizer does not see inside libgomp, so this build leaves OpenMP out and checks the
# project's own threads.
tsan: $(DEPS_OK) bin/gsimclrd bin/gsimclr $(DIST_BIN)
	$(MAKE) BUILD=build-tsan OPT="-O1 -fsanitize=thread -Wno-unknown-pragmas" OMP= \
	    LDLIBS="-fsanitize=thread -lm -lpthread" build-tsan/tests/run_tests
	TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/run_tests

# The crash soak (tests/soak.h): for G-SimCLR and SimCLR, SOAK_TRIALS runs of a small job each
# disturbed at random moments (kill -9 in every stage and inside checkpoint writes, double
# kills, SIGTERM then kill -9), every one compared with its undisturbed twin. A few minutes;
# not part of `make test`, which runs three fixed trials. SOAK_SEED repeats a soak.
SOAK_BIN    := $(BUILD)/tests/soak/soak
SOAK_TRIALS ?= 20
SOAK_SEED   ?=
$(SOAK_BIN): $(BUILD)/tests/soak/soak.o $(BUILD)/tests/soak.o $(BUILD)/tests/daemonproc.o \
             $(BUILD)/tests/apiclient.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

soak: $(DEPS_OK) bin/gsimclrd $(SOAK_BIN)
	$(SOAK_BIN) $(SOAK_TRIALS) $(SOAK_SEED)

# ---- fuzzing ----------------------------------------------------------------------------
# `make fuzz` builds the libFuzzer harnesses of fuzz/ with clang, ASan and UBSan (nothing
# recovers: the first report stops the target) into build-fuzz/, the product sources with the
# same sanitizers and coverage, then runs each target for FUZZ_SECONDS (docs/FUZZING.md). OpenMP
# is left out there, as in the tsan build: the harnesses run one thread, and libgomp's pool
# would only add threads the sanitizers cannot see into. It fails when any target finds a
# crash, a leak or a timeout; the reproducing input stays in build-fuzz/fuzz-findings/.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 180
FUZZ_TARGETS ?= config api_json http idx cifar ckpt png jpeg relay
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OPT     := -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wno-unknown-pragmas \
                -DIDX_INITIAL_BYTES=64 -DZFILE_BUFFER=64
FUZZ_HELPERS := $(BUILD)/fuzz/common.o $(BUILD)/fuzz/api_harness.o $(BUILD)/fuzz/service_stubs.o \
                $(BUILD)/fuzz/image_harness.o
# the daemon's modules but the socket (http.c) and the workers (jobs.c, service.c): the
# harnesses drive api_handle directly, with fuzz/service_stubs.c in their place
FUZZ_SVC_OBJ := $(filter-out $(BUILD)/server/service/http.o $(BUILD)/server/service/jobs.o \
                  $(BUILD)/server/service/service.o,$(SVC_OBJ))
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
# the harness objects are made through a pattern rule: keep them, so a rerun relinks nothing
.SECONDARY: $(FUZZ_BINS:%=%.o)

fuzz: fuzz-build
	fuzz/run build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(DEPS_OK)
	scripts/install-deps --fuzz
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OMP= OPT="$(FUZZ_OPT)" \
	    LDLIBS="$(FUZZ_SAN) -lm -lpthread" fuzz-bins

fuzz-bins: $(FUZZ_BINS) $(BUILD)/fuzz/make_seeds

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(FUZZ_HELPERS) $(FUZZ_SVC_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/fuzz/make_seeds: $(BUILD)/fuzz/make_seeds.o $(FUZZ_HELPERS) $(FUZZ_SVC_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# Rewrites the binary seeds of fuzz/corpus (checkpoints, IDX, CIFAR, PNG, JPEG); the text seeds are
# written by hand.
fuzz-seeds: fuzz-build
	build-fuzz/fuzz/make_seeds fuzz/corpus

bench: bench-step bench-kmeans bench-api bench-decode bench-dist

# The SimCLR stage at 1 process x 2 threads and 2 processes x 1 thread (mpirun, loopback).
bench-dist: $(DEPS_OK) $(DISTB_BIN)
	bench/bench_dist.sh $(DISTB_BIN)

# Image-folder decoding (PNG, JPEG) against Python's PIL on the same folders and threads.
bench-decode: $(DEPS_OK) $(DECODE_BIN)
	scripts/install-deps --bench
	bench/bench_decode.sh $(DECODE_BIN)

# wrk against GET /v1/runs/{id} while a run trains (needs wrk, curl, jq: install-deps --bench)
bench-api: $(DEPS_OK) bin/gsimclrd
	scripts/install-deps --bench
	bench/bench_api.sh bin/gsimclrd

# Every 3x3 convolution of the default networks by every algorithm conv.c has (no reference:
# the figures behind its automatic choice).
bench-conv: $(DEPS_OK) $(CONVB_BIN)
	$(CONVB_BIN) $${THREADS:-2} $${REPS:-7}

# Needs the reference packages: scripts/install-deps --bench
bench-step: $(DEPS_OK) $(BENCH_BIN)
	scripts/install-deps --bench
	bench/bench_step.sh $(BENCH_BIN)

# k-means on the DAE embeddings of all 60,000 Fashion-MNIST training images, against
# scikit-learn on the same matrix (the embeddings are made once by the pipeline's dae stage).
$(EMBEDDINGS): $(EMBED_BIN)
	$(EMBED_BIN) $@

bench-kmeans: $(DEPS_OK) $(KMEANS_BIN) $(EMBEDDINGS)
	scripts/install-deps --bench
	bench/bench_kmeans.sh $(EMBEDDINGS) $(KMEANS_BIN)

# Regenerates the PyTorch fixtures under tests/fixtures (needs python3-torch).
fixtures:
	scripts/install-deps --bench
	/usr/bin/python3 tests/ref/make_fixtures.py tests/fixtures

# The main job: gsimclrd started in the background, a G-SimCLR run and a SimCLR run at a demo
# budget submitted and watched with the CLI, their results compared; the daemon keeps serving
# the web page.
demo: all
	scripts/demo

clean:
	rm -rf build build-asan build-tsan build-fuzz bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
