# lib.sh — helpers the benchmark scripts share (sourced, not run).
# med: the median of the numbers on stdin, one per line.
med() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
# field NAME: the value of NAME=value in the line on stdin.
field() { sed -n "s/.*$1=\([0-9.e+-]*\).*/\1/p"; }
# ratio A B [FORMAT]: A / B.
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN {printf f, a/b}'; }
