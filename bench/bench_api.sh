#!/bin/sh
# bench_api.sh — the HTTP API under load while a run trains. Starts bin/gsimclrd on a free
# port with a fresh database, submits a SimCLR run on all of Fashion-MNIST (one training
# thread, so the second core serves HTTP: the N x T <= cores rule), measures the training
# throughput for WINDOW seconds without load, then runs wrk (Debian package) against
# GET /v1/runs/{id} for DURATION seconds with CONNS connections while measuring it again.
# Last line:
#   bench-api: rps=N p99_ms=M errors=E train_slowdown=S
# with S = 1 - (training images/s under load) / (without load): the fraction lost.
# Targets: rps >= 5000, p99 < 50 ms, 0 errors, slowdown <= 0.10.
# Usage: bench_api.sh [DAEMON]   (default bin/gsimclrd)
set -eu
BIN=${1:-bin/gsimclrd}
DURATION=${DURATION:-20}
CONNS=${CONNS:-64}
WINDOW=${WINDOW:-20}
TMP=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

"$BIN" --listen 127.0.0.1:0 --data-dir "$TMP/db" --workers 1 --threads 1 --http-threads 1 \
    2>"$TMP/daemon.log" &
PID=$!
for _ in $(seq 100); do
    grep -q "listening on" "$TMP/daemon.log" && break
    sleep 0.1
done
URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$TMP/daemon.log")
[ -n "$URL" ] || { echo "bench-api: the daemon did not start:"; cat "$TMP/daemon.log"; exit 1; }

RUN=$(curl -sf -H 'Content-Type: application/json' -d '{"name": "bench-api load",
  "method": "simclr", "threads": 1,
  "simclr": {"encoder": {"arch": "cnn3", "width": 32, "head": [128, 64]}, "epochs": 50,
             "batch": 256}}' "$URL/v1/runs" | jq -r .id)

# images trained so far: the simclr stage's live step times the batch
images() { curl -sf "$URL/v1/runs/$RUN" | jq '(.stages[] | select(.name == "simclr") | .step) * 256'; }

# wait until training runs steadily (the first steps warm caches up)
for _ in $(seq 600); do
    s=$(images)
    [ "$s" -ge 2560 ] && break
    sleep 0.5
done
a=$(images); t0=$(date +%s.%N)
sleep "$WINDOW"
b=$(images); t1=$(date +%s.%N)
idle=$(awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.1f", (b - a) / (t1 - t0)}')

a=$(images); t0=$(date +%s.%N)
wrk -t 1 -c "$CONNS" -d "${DURATION}s" --latency "$URL/v1/runs/$RUN" > "$TMP/wrk.txt"
b=$(images); t1=$(date +%s.%N)
loaded=$(awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.1f", (b - a) / (t1 - t0)}')
cat "$TMP/wrk.txt"

curl -sf -X POST "$URL/v1/runs/$RUN/cancel" > /dev/null

rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$TMP/wrk.txt")
# wrk prints the 99% latency with a unit: us, ms or s
p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000}
        else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}
        printf "%.2f", v}' "$TMP/wrk.txt")
errors=$(awk '/Socket errors/ {gsub(/,/, ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $5}
          END {print s + 0}' "$TMP/wrk.txt")
slow=$(awk -v i="$idle" -v l="$loaded" 'BEGIN {printf "%.3f", 1 - l / i}')
echo "training: ${idle} images/s without load, ${loaded} images/s under load"
echo "bench-api: rps=$rps p99_ms=$p99 errors=$errors train_slowdown=$slow"
