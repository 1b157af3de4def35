#!/usr/bin/env bash
# median of -count=N go benchmark runs: bash median.sh bench.txt
grep '^Benchmark' "$1" | awk '{n=$1; sub(/-[0-9]+$/,"",n); print n, $3, $5, $7}' | sort -k1,1 -k2,2n |
 awk '{k=$1; a[k]=a[k]" "$2; al[k]=$4; b[k]=$3} END{for(k in a){m=split(a[k],v," "); printf "%-46s median %8d ns/op %4s B/op %3s allocs/op  (runs:%s)\n", k, v[int((m+1)/2)], b[k], al[k], a[k]}}' | sort
