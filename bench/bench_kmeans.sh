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

med() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { sed -n "s/.*$1=\([0-9.e+-]*\).*/\1/p"; }

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
    ot=$(echo $ours_t | tr ' ' '\n' | med)
    st=$(echo $sk_t | tr ' ' '\n' | med)
    oi=$(echo $ours_i | tr ' ' '\n' | med)
    si=$(echo $sk_i | tr ' ' '\n' | med)
    echo "bench-kmeans k=$k: ours=$ot s sklearn=$st s ratio=$(awk -v a="$ot" -v b="$st" 'BEGIN {printf "%.3f", a/b}') inertia_ratio=$(awk -v a="$oi" -v b="$si" 'BEGIN {printf "%.4f", a/b}')"
done
