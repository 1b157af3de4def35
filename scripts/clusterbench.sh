#!/usr/bin/env bash
# Measures a two-node cluster on this machine's PostgreSQL: joins per
# second through one node and through two, and REST kick → socket closed
# for a participant held by the node that served the kick and by the
# other one. Both nodes run on this one machine, over loopback.
#
#   ROOMSD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable scripts/clusterbench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ROOMSD_TEST_POSTGRES_URL:=postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
export ROOMSD_TEST_POSTGRES_URL ROOMSD_CLUSTER_BENCH=1
go test -count=1 -run '^TestClusterFigures$' -v ./test/cluster | grep -E '^(joins|kick)' 
