#!/usr/bin/env bash
# Call-event insert rate through the store's batching writer, on SQLite and PostgreSQL.
#
#   bench/store.sh [EVENTS]      (default 200000)
#
# Starts a throwaway PostgreSQL cluster (scripts/pg-cluster.sh: temp dir, free port, stopped
# on exit) with default durability settings, then runs
# `cargo bench -p store --bench writer -- EVENTS`. Figures: docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/pg-cluster.sh
source scripts/pg-cluster.sh
pg_cluster_start
export SWITCHBOARD_BENCH_DATABASE_URL="$SWITCHBOARD_TEST_DATABASE_URL"
cargo bench -p store --bench writer -- "${1:-200000}"
