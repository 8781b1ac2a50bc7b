#!/usr/bin/env bash
# A regeneration on a private embedded stack, for scripts/propensity_check.py:
# Temporal, versitygw and one worker on their own ports and state folder (so it
# runs beside `make up` and other stacks), then `starter run --template weekly
# --input $INPUT --seed 7 --wait --json "$@"`. The summary JSON goes to
# $STATE/summary.json; the bucket stays in $STATE/s3 after the stack stops.
#
#   go run ./starter generate --users 100000 --seed 7 --out /tmp/events-100k.csv.gz
#   INPUT=/tmp/events-100k.csv.gz STATE=/tmp/pf-100k scripts/propensity-run.sh
#   go run ./scripts/propensity-check --state /tmp/pf-100k --out /tmp/pf-100k/check
#   python3 scripts/propensity_check.py /tmp/pf-100k/check
#
# Needs bin/temporal and bin/versitygw (make tools, or PROMOFLOW_BIN_DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TOOLS=${PROMOFLOW_BIN_DIR:-$ROOT/bin}
STATE=${STATE:-/tmp/promoflow-propensity}
PORT_BASE=${PORT_BASE:-18000}
INPUT=${INPUT:?set INPUT to an events file}

mkdir -p "$STATE/bin"
ln -sf "$TOOLS/temporal" "$STATE/bin/temporal"
ln -sf "$TOOLS/versitygw" "$STATE/bin/versitygw"

export PROMOFLOW_BIN_DIR=$STATE/bin PROMOFLOW_STATE_DIR=$STATE
export PROMOFLOW_TEMPORAL_ADDRESS=127.0.0.1:$((PORT_BASE + 233))
export PROMOFLOW_UI=http://127.0.0.1:$((PORT_BASE + 1233))
export PROMOFLOW_S3_ENDPOINT=http://127.0.0.1:$((PORT_BASE + 70))

trap 'scripts/stack.sh down >&2' EXIT
scripts/stack.sh up >&2
go run ./starter run --template weekly --input "$INPUT" --seed 7 --wait --json "$@" | tee "$STATE/summary.json"
echo "summary: $STATE/summary.json" >&2
