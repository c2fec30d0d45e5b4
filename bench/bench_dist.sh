#!/bin/sh
# bench_dist.sh — the SimCLR stage (the run's default encoder, batch BATCH) on this machine
# at P = 1 process x 2 threads and P = 2 processes x 1 thread (mpirun on loopback, shared
# memory), ROUNDS times alternating; the medians compared. Last line:
#   bench-dist: p1=N img/s p2=N img/s efficiency=E comm_ms=M bytes_per_step=B
# efficiency = p2 / p1; comm_ms and bytes_per_step are rank 0's at P = 2 (time inside
# collectives, waiting included; bytes sent and received).
set -eu
BIN=${1:-build/bench/bench_dist}
BATCH=${BATCH:-256}
STEPS=${STEPS:-20}
ROUNDS=${ROUNDS:-3}
DIR=$(dirname "$0")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# shellcheck source=bench/lib.sh
. "$DIR/lib.sh"

p1_runs="" p2_runs="" comm_runs="" bytes=0
for r in $(seq "$ROUNDS"); do
    o1=$("$BIN" "$BATCH" "$STEPS" 2)
    o2=$(mpirun --oversubscribe -np 2 "$BIN" "$BATCH" "$STEPS" 1)
    echo "round $r: $o1"
    echo "round $r: $o2"
    p1_runs="$p1_runs $(echo "$o1" | field img_per_s)"
    p2_runs="$p2_runs $(echo "$o2" | field img_per_s)"
    comm_runs="$comm_runs $(echo "$o2" | field comm_ms)"
    bytes=$(echo "$o2" | field bytes_per_step)
done
p1=$(echo "$p1_runs" | med)
p2=$(echo "$p2_runs" | med)
comm=$(echo "$comm_runs" | med)
eff=$(ratio "$p2" "$p1")
echo "bench-dist: p1=$p1 img/s p2=$p2 img/s efficiency=$eff comm_ms=$comm bytes_per_step=$bytes"
