#!/bin/sh
# bench_step.sh — a SimCLR training step (batch 256, two views, 28x28x1, Adam) of the 3-conv
# reference CNN and of the default encoder, in gsimclr and in PyTorch (Debian's python3-torch),
# in the same run on the same machine, with the same thread count. Each side reports the
# median of several steps after warm-up; the pair is run ROUNDS times, alternating, and the
# medians of those are compared. Last line per network:
#   bench-step NET: ours=V views/s torch=V views/s ratio=R
set -eu
BIN=${1:-build/bench/bench_step}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-256}
PY=/usr/bin/python3
DIR=$(dirname "$0")

# shellcheck source=bench/lib.sh
. "$DIR/lib.sh"

for net in cnn3 resnet; do
    steps=12
    [ "$net" = resnet ] && steps=6
    ours_runs="" torch_runs="" gflops_runs="" sgemm_runs=""
    for r in $(seq "$ROUNDS"); do
        o=$("$BIN" "$net" "$BATCH" "$steps" "$THREADS")
        t=$($PY "$DIR/bench_step.py" "$net" "$BATCH" "$steps" "$THREADS")
        echo "round $r: $(echo "$o" | head -1)"
        echo "round $r: $(echo "$o" | tail -1)"
        echo "round $r: $t"
        ours_runs="$ours_runs $(echo "$o" | head -1 | field views_per_s)"
        gflops_runs="$gflops_runs $(echo "$o" | head -1 | field gflops)"
        sgemm_runs="$sgemm_runs $(echo "$o" | tail -1 | field gflops)"
        torch_runs="$torch_runs $(echo "$t" | field views_per_s)"
    done
    ours=$(echo "$ours_runs" | med)
    torch=$(echo "$torch_runs" | med)
    gf=$(echo "$gflops_runs" | med)
    sg=$(echo "$sgemm_runs" | med)
    echo "bench-step $net: reached ${gf} GFLOP/s; this machine's SGEMM (1024^3, $THREADS threads): ${sg} GFLOP/s"
    echo "bench-step $net: ours=$ours views/s torch=$torch views/s ratio=$(ratio "$ours" "$torch")"
done
