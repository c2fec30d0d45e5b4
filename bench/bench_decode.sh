#!/bin/sh
# bench_decode.sh — `make bench-decode`: the image-folder reader against Python's PIL (Debian
# python3-pil) on the same folders, same thread count, best of 3 each. The folders are made
# once under build/bench-decode: colourised Fashion-MNIST JPEGs at 64x64
# (scripts/make-rgb-fashion) and Fashion-MNIST as 28x28 gray PNGs (scripts/make-image-folders).
# One line per folder: "bench-decode: ours=N img/s pil=N img/s ratio=R".
# Usage: bench/bench_decode.sh BENCH_BIN [THREADS]
set -eu
bin=$1
threads=${2:-2}
dir=build/bench-decode
mkdir -p "$dir"
[ -d "$dir/rgb64" ] || /usr/bin/python3 scripts/make-rgb-fashion "$dir/rgb64" --size 64 \
    --train 10000 --test 2000 >/dev/null
[ -d "$dir/fm-png" ] || /usr/bin/python3 scripts/make-image-folders "$dir/fm-png" \
    --train 10000 --test 2000 >/dev/null
echo "bench-decode: CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $threads threads"
run() { # folder size label
    ours=$("$bin" "$1" "$threads" "$2" 3 | sed -n 's/^ours_img_per_s=\([0-9]*\).*/\1/p')
    pil=$(/usr/bin/python3 bench/bench_decode.py "$1" "$threads" "$2" 3 |
        sed -n 's/^pil_img_per_s=\([0-9]*\).*/\1/p')
    ratio=$(awk -v a="$ours" -v b="$pil" 'BEGIN { printf "%.2f", a / b }')
    echo "bench-decode: ours=$ours img/s pil=$pil img/s ratio=$ratio ($3)"
}
run "$dir/rgb64" 0 "64x64 RGB JPEG, 12000 files, native size"
run "$dir/rgb64" 32 "64x64 RGB JPEG resized to 32"
run "$dir/fm-png" 0 "28x28 gray PNG, 12000 files"
