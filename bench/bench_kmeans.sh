#!/bin/sh
# bench_kmeans.sh — k-means on a GSEM matrix (the DAE embeddings of the training images) in
# gsimclr and in scikit-learn (Debian's python3-sklearn: KMeans, Lloyd, k-means++), same n_init,
# max_iter, tol and thread count, on the same machine in the same run. For each k the pair runs
# ROUNDS times, alternating, and the medians are compared. Last line per k:
#   bench-kmeans k=K: ours=S s sklearn=S s ratio=R inertia_ratio=Q
# (ratio = our time / sklearn's, below 1 is faster; inertia_ratio = our inertia / sklearn's).
# Usage: bench_kmeans.sh FILE [BIN]   (BIN defaults to build/bench/bench_kmeans)
set -eu
FILE=${1:?usage: bench_kmeans.sh FILE.gsem [bench_kmeans binary]}
BIN=${2:-build/bench/bench_kmeans}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
N_INIT=${N_INIT:-4}
MAX_ITER=${MAX_ITER:-100}
KS=${KS:-"10 64"}
PY=/usr/bin/python3
DIR=$(dirname "$0")

# shellcheck source=bench/lib.sh
. "$DIR/lib.sh"

for k in $KS; do
    ours_t="" sk_t="" ours_i="" sk_i=""
    for r in $(seq "$ROUNDS"); do
        o=$("$BIN" "$FILE" "$k" "$N_INIT" "$MAX_ITER" "$THREADS" "$r")
        s=$($PY "$DIR/bench_kmeans.py" "$FILE" "$k" "$N_INIT" "$MAX_ITER" "$THREADS" "$r")
        echo "round $r: $o"
        echo "round $r: $s"
        ours_t="$ours_t $(echo "$o" | field seconds)"
        sk_t="$sk_t $(echo "$s" | field seconds)"
        ours_i="$ours_i $(echo "$o" | field inertia)"
        sk_i="$sk_i $(echo "$s" | field inertia)"
    done
    ot=$(echo "$ours_t" | med)
    st=$(echo "$sk_t" | med)
    oi=$(echo "$ours_i" | med)
    si=$(echo "$sk_i" | med)
    echo "bench-kmeans k=$k: ours=$ot s sklearn=$st s ratio=$(ratio "$ot" "$st" %.3f) inertia_ratio=$(ratio "$oi" "$si" %.4f)"
done
