#!/usr/bin/env bash
# The ingest issue's done-means run on a private embedded stack: Temporal,
# versitygw and one worker on their own ports and state folder (so it runs
# beside `make up` and other engineers' stacks), then
#   starter run --template weekly --input online_retail.csv.gz \
#     --mapping deploy/datasets/online-retail.yaml --wait --json
# The summary JSON goes to $OUT (default $STATE/summary.json); the stack is
# stopped afterwards. Extra arguments go to `starter run`.
#
#   scripts/online-retail-run.sh [--cutoff 2011-09-10 --horizon-days 90]
#
# Needs bin/temporal and bin/versitygw (make tools, or PROMOFLOW_BIN_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TOOLS=${PROMOFLOW_BIN_DIR:-$ROOT/bin}
STATE=${STATE:-/tmp/promoflow-online-retail}
PORT_BASE=${PORT_BASE:-17000}
INPUT=${INPUT:-$ROOT/../shared/data/online-retail/online_retail.csv.gz}
OUT=${OUT:-$STATE/summary.json}

[[ -f $INPUT ]] || { echo "no input file $INPUT (set INPUT)" >&2; exit 1; }
mkdir -p "$STATE/bin"
# stack.sh builds the worker and the bucket helper into its bin folder: a
# private one, holding links to the pinned servers.
ln -sf "$TOOLS/temporal" "$STATE/bin/temporal"
ln -sf "$TOOLS/versitygw" "$STATE/bin/versitygw"

export PROMOFLOW_BIN_DIR=$STATE/bin PROMOFLOW_STATE_DIR=$STATE
export PROMOFLOW_TEMPORAL_ADDRESS=127.0.0.1:$((PORT_BASE + 233))
export PROMOFLOW_UI=http://127.0.0.1:$((PORT_BASE + 1233))
export PROMOFLOW_S3_ENDPOINT=http://127.0.0.1:$((PORT_BASE + 70))

trap 'scripts/stack.sh down >&2' EXIT
scripts/stack.sh up >&2
go run ./starter run --template weekly --input "$INPUT" \
	--mapping deploy/datasets/online-retail.yaml --wait --json "$@" | tee "$OUT"
echo "summary: $OUT" >&2
