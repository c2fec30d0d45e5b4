#!/bin/sh
# bench_step.sh — a training step of the networks people train, in gsimclr and in PyTorch
# (Debian's python3-torch), in the same run on the same machine, with the same thread count:
#   default  the run's default SimCLR encoder at its default batch and temperature
#            (run_config_defaults; bench_step prints the PyTorch twin to build)
#   dae      the run's default denoising autoencoder at its default batch
#   cnn3     the 3-conv reference CNN (32/64/128) at batch $BATCH (256)
#   resnet   the residual encoder at batch $BATCH
# Each side reports the median of several steps after warm-up; the pair is run ROUNDS times,
# alternating, and the medians of those are compared. The machine's FMA peak and SGEMM are
# measured in the same run (after every one of ours), so GFLOP/s mean something on any CPU.
# Last line per network:
#   bench-step NET: ours=V views/s torch=V views/s ratio=R
set -eu
BIN=${1:-build/bench/bench_step}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
BATCH=${BATCH:-256}
NETS=${NETS:-default dae cnn3 resnet}
PY=/usr/bin/python3
DIR=$(dirname "$0")

# shellcheck source=bench/lib.sh
. "$DIR/lib.sh"

peak_runs="" sgemm_runs="" isa=""
for net in $NETS; do
    case $net in
        default) steps=30 batch=0 ;;
        dae) steps=12 batch=0 ;;
        resnet) steps=6 batch=$BATCH ;;
        *) steps=12 batch=$BATCH ;;
    esac
    ours_runs="" torch_runs="" gflops_runs=""
    for r in $(seq "$ROUNDS"); do
        o=$("$BIN" "$net" "$batch" "$steps" "$THREADS")
        line=$(echo "$o" | grep '^ours ')
        peak=$(echo "$o" | grep '^peak ')
        spec=$(echo "$line" | sed -n 's/.* torch=\([^ ]*\).*/\1/p')
        n=$(echo "$line" | field batch)
        tau=$(echo "$line" | field tau)
        t=$($PY "$DIR/bench_step.py" "$spec" "$n" "$steps" "$THREADS" "$tau")
        echo "round $r: $line"
        echo "round $r: $peak"
        echo "round $r: $t"
        ours_runs="$ours_runs $(echo "$line" | field views_per_s)"
        gflops_runs="$gflops_runs $(echo "$line" | field gflops)"
        torch_runs="$torch_runs $(echo "$t" | field views_per_s)"
        peak_runs="$peak_runs $(echo "$peak" | field fma_gflops)"
        sgemm_runs="$sgemm_runs $(echo "$peak" | field sgemm_gflops)"
        isa=$(echo "$peak" | sed -n 's/.* isa=\([a-z0-9]*\).*/\1/p')
    done
    ours=$(echo "$ours_runs" | med)
    torch=$(echo "$torch_runs" | med)
    gf=$(echo "$gflops_runs" | med)
    pk=$(echo "$peak_runs" | med)
    echo "bench-step $net: ${spec} batch $n: reached ${gf} GFLOP/s, $(ratio "$gf" "$pk" %.2f) of this machine's FMA peak"
    echo "bench-step $net: ours=$ours views/s torch=$torch views/s ratio=$(ratio "$ours" "$torch")"
done
echo "bench-step machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads: FMA peak $(echo "$peak_runs" | med) GFLOP/s ($isa), SGEMM 1024^3 $(echo "$sgemm_runs" | med) GFLOP/s"
