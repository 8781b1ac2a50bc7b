#!/usr/bin/env bash
# Live decisions benchmark (docs/PERFORMANCE.md, "Live decisions") on an
# embedded stack of its own: non-default ports and its own state folder, so it
# runs beside `make up` and other stacks. It starts the stack (scripts/stack.sh
# with a bin folder of its own for the worker it builds), publishes a weekly
# run on USERS generated users once, then runs `starter live bench` at each
# rate given (each bench starts a live campaign over its duration and stops
# it), one JSON result per line, and stops the stack.
#
#   scripts/live-bench.sh [RATE ...]          default: 100
#   USERS=20000 DURATION=30s CLIENTS=8 SLICES=4 BUDGET=1000 scripts/live-bench.sh 100 200
#   PROMOFLOW_SQLITE_PRAGMAS=none scripts/live-bench.sh 100
#                                               (the dev server's SQLite with its own defaults, not WAL: scripts/stack.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

STATE=${LIVE_STATE_DIR:-$ROOT/.promoflow-live}
USERS=${USERS:-20000}
DURATION=${DURATION:-30s}
CLIENTS=${CLIENTS:-8}
SLICES=${SLICES:-4}
BUDGET=${BUDGET:-1000}
RATES=("$@")
[[ ${#RATES[@]} -gt 0 ]] || RATES=(100)

export PROMOFLOW_STATE_DIR=$STATE
export PROMOFLOW_BIN_DIR=$STATE/bin
export PROMOFLOW_TEMPORAL_ADDRESS=127.0.0.1:${LIVE_TEMPORAL_PORT:-17233}
export PROMOFLOW_UI=http://127.0.0.1:${LIVE_UI_PORT:-18233}
export PROMOFLOW_S3_ENDPOINT=http://127.0.0.1:${LIVE_S3_PORT:-17070}

# The pinned temporal and versitygw: bin/ (built by make tools) unless
# LIVE_TOOLS_DIR names a folder that has them.
TOOLS=${LIVE_TOOLS_DIR:-$ROOT/bin}
mkdir -p "$PROMOFLOW_BIN_DIR"
[[ -n ${LIVE_TOOLS_DIR:-} ]] || make -s tools >&2
for tool in temporal versitygw; do ln -sf "$TOOLS/$tool" "$PROMOFLOW_BIN_DIR/$tool"; done
go build -o "$PROMOFLOW_BIN_DIR/starter" ./starter
STARTER=$PROMOFLOW_BIN_DIR/starter

scripts/stack.sh up >&2
trap 'scripts/stack.sh down >&2' EXIT

if [[ ! -s $STATE/live-source ]]; then
	"$STARTER" generate --users "$USERS" --seed 11 --out "$STATE/live-events.csv.gz" >&2
	# The source campaign started two months ago: its contacts no longer suppress.
	"$STARTER" run --template weekly --input "$STATE/live-events.csv.gz" --seed 11 --start "$(date -u -d "-60 days" +%F)" \
		--future-tolerance -1s --wait --json >"$STATE/live-source.json"
	echo "$USERS" >"$STATE/live-source"
fi

# CPU seconds (user + system) the Temporal server and the worker have used.
cpu() {
	local name pid
	for name in temporal worker; do
		pid=$(<"$STATE/run/$name.pid")
		awk '{printf "%.2f ", ($14 + $15) / 100}' "/proc/$pid/stat"
	done
	echo
}

for rate in "${RATES[@]}"; do
	read -r t0 w0 < <(cpu)
	out=$("$STARTER" live bench --template weekly --rate "$rate" --duration "$DURATION" --clients "$CLIENTS" \
		--slices "$SLICES" --budget "$BUDGET" ${SENDERS:+--senders "$SENDERS"} --json | tr -s '\n ' ' ')
	out=${out%" "}
	read -r t1 w1 < <(cpu)
	# The bench's JSON, with the CPU seconds the server and the worker spent during it.
	echo "${out%\}},\"temporal_cpu_s\":$(echo "$t1 - $t0" | bc),\"worker_cpu_s\":$(echo "$w1 - $w0" | bc)}"
done
