#!/usr/bin/env bash
# One regeneration of a canonical events file (e.g. `starter generate`'s)
# on a private embedded stack, as scripts/online-retail-run.sh does for
# Online Retail: the density clusters' measurements on generated data.
#
#   INPUT=/tmp/events.csv.gz scripts/dense-run.sh --dense-clusters
#
# The summary JSON goes to $OUT (default $STATE/summary.json); the run's
# objects stay under $STATE/s3/promoflow/runs/ for scripts/dense-profile.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TOOLS=${PROMOFLOW_BIN_DIR:-$ROOT/bin}
STATE=${STATE:-/tmp/promoflow-dense}
PORT_BASE=${PORT_BASE:-17100}
INPUT=${INPUT:?set INPUT to a canonical events file}
OUT=${OUT:-$STATE/summary.json}

mkdir -p "$STATE/bin"
ln -sf "$TOOLS/temporal" "$STATE/bin/temporal"
ln -sf "$TOOLS/versitygw" "$STATE/bin/versitygw"

export PROMOFLOW_BIN_DIR=$STATE/bin PROMOFLOW_STATE_DIR=$STATE
export PROMOFLOW_TEMPORAL_ADDRESS=127.0.0.1:$((PORT_BASE + 233))
export PROMOFLOW_UI=http://127.0.0.1:$((PORT_BASE + 1233))
export PROMOFLOW_S3_ENDPOINT=http://127.0.0.1:$((PORT_BASE + 70))

trap 'scripts/stack.sh down >&2' EXIT
scripts/stack.sh up >&2
go run ./starter run --template weekly --input "$INPUT" --wait --json "$@" | tee "$OUT"
echo "summary: $OUT" >&2
