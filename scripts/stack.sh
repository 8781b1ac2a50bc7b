#!/usr/bin/env bash
# Local promoflow stack: Temporal dev server, versitygw (S3) and the worker.
# Used by the Makefile (make up / servers / down / status); run from the repo root.
#
#   scripts/stack.sh up        servers + bucket + worker
#   scripts/stack.sh servers   servers + bucket only
#   scripts/stack.sh down      stop what up started (data stays in .promoflow/)
#   scripts/stack.sh status
#
# Addresses come from the shared PROMOFLOW_* variables (defaults below), so the
# servers listen exactly where the worker and the starter look for them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=${PROMOFLOW_BIN_DIR:-$ROOT/bin}
STATE=${PROMOFLOW_STATE_DIR:-$ROOT/.promoflow}
RUN=$STATE/run
LOGS=$STATE/logs
READY_TIMEOUT=${PROMOFLOW_READY_TIMEOUT:-60}
STOP_TIMEOUT=${PROMOFLOW_STOP_TIMEOUT:-20}

export PROMOFLOW_TEMPORAL_ADDRESS=${PROMOFLOW_TEMPORAL_ADDRESS:-127.0.0.1:7233}
export PROMOFLOW_NAMESPACE=${PROMOFLOW_NAMESPACE:-default}
export PROMOFLOW_TASK_QUEUE=${PROMOFLOW_TASK_QUEUE:-promoflow}
export PROMOFLOW_UI=${PROMOFLOW_UI:-http://127.0.0.1:8233}
export PROMOFLOW_S3_ENDPOINT=${PROMOFLOW_S3_ENDPOINT:-http://127.0.0.1:7070}
export PROMOFLOW_BUCKET=${PROMOFLOW_BUCKET:-promoflow}
export PROMOFLOW_S3_REGION=${PROMOFLOW_S3_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-promoflow}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-promoflow-secret}

hostport() { local u=${1#*://}; echo "${u%%/*}"; }
T_HP=$(hostport "$PROMOFLOW_TEMPORAL_ADDRESS"); T_IP=${T_HP%:*}; T_PORT=${T_HP##*:}
U_HP=$(hostport "$PROMOFLOW_UI");               U_IP=${U_HP%:*}; U_PORT=${U_HP##*:}
S_HP=$(hostport "$PROMOFLOW_S3_ENDPOINT");      S_IP=${S_HP%:*}; S_PORT=${S_HP##*:}

TCLI_FLAGS=(--address "$T_HP" --disable-config-file --disable-config-env)

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# running NAME PATTERN -> true if .promoflow/run/NAME.pid names a live process
# whose command line mentions PATTERN, the binary we started (guards against a
# stale pid file whose pid was reused). Not for a process just started: until
# it execs, its command line is this shell's (alive is the check then).
running() {
	local f=$RUN/$1.pid pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

# alive NAME -> true while the process this script started as NAME lives.
alive() {
	local f=$RUN/$1.pid pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

show_log() {
	say "---- last lines of $1 ----" >&2
	tail -n "${2:-25}" "$1" >&2 || true
	say "---- (full log: $1) ----" >&2
}

# STARTED lists what this invocation started, in order: a failed start stops
# them (stop_started), so no half-started stack is left behind.
STARTED=()

# start NAME LOG CMD... : start CMD detached (own session, no stdin) and
# record its pid.
start() {
	local name=$1 log=$2
	shift 2
	printf '\n=== %s: %s\n' "$(date -Is)" "$*" >>"$log"
	setsid "$@" </dev/null >>"$log" 2>&1 &
	echo $! >"$RUN/$name.pid"
	STARTED+=("$name")
}

# stop_started: on a failed start, stop what this invocation started, newest
# first, by the pids it recorded (the processes are ours: no command-line check,
# which could miss one that had not yet exec'd).
stop_started() {
	local i name
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		name=${STARTED[i]}
		if alive "$name"; then
			say "$name: stopping it, the start failed" >&2
			kill_pid "$name" "$(<"$RUN/$name.pid")" >&2
		else
			rm -f "$RUN/$name.pid"
		fi
	done
	STARTED=()
}

# wait_for NAME LOG PROBE... : run PROBE until it succeeds, the process
# dies, or READY_TIMEOUT seconds pass.
wait_for() {
	local name=$1 log=$2
	shift 2
	local deadline=$((SECONDS + READY_TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		# Only whether the pid lives: its command line may still be the
		# forked shell's for a moment before exec (running would say no).
		if ! alive "$name"; then
			show_log "$log"
			die "$name exited during start-up; see $log"
		fi
		if ((SECONDS >= deadline)); then
			show_log "$log"
			die "$name not ready after ${READY_TIMEOUT}s; see $log"
		fi
		sleep 0.2
	done
}

temporal_ready() {
	"$BIN/temporal" operator namespace describe --namespace "$PROMOFLOW_NAMESPACE" \
		--command-timeout 3s -o json "${TCLI_FLAGS[@]}" | grep -q NAMESPACE_STATE_REGISTERED
}

s3_ready() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET /health HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3 && head -n1 <&3 | grep -q " 200"' "$S_IP" "$S_PORT"
}

need_tools() {
	[[ -x $BIN/temporal && -x $BIN/versitygw ]] || die "bin/temporal or bin/versitygw missing: run 'make tools'"
}

# The dev server's dynamic configuration (internal/testenv.DynamicConfig has
# the same list, and says why): one task queue partition, eager activities.
DYNAMIC_CONFIG=(matching.numTaskqueueReadPartitions=1 matching.numTaskqueueWritePartitions=1 system.enableActivityEagerExecution=true)

# versitygw's posix backend flags (internal/testenv.S3PosixFlags has the
# same list, and says why): checksum-derived ETags instead of an MD5 of every upload.
S3_POSIX_FLAGS=(--data-integrity-etag)

# The dev server's SQLite settings unless PROMOFLOW_SQLITE_PRAGMAS says
# otherwise (internal/testenv.DefaultSQLitePragmas: the same, and why).
SQLITE_PRAGMAS=journal_mode=wal,synchronous=normal

start_temporal() {
	local log=$LOGS/temporal.log kv dc=()
	for kv in "${DYNAMIC_CONFIG[@]}"; do dc+=(--dynamic-config-value "$kv"); done
	# PROMOFLOW_SQLITE_PRAGMAS (comma-separated PRAGMA=VALUE): the dev
	# server's SQLite settings; unset means SQLITE_PRAGMAS (internal/testenv's
	# DefaultSQLitePragmas, which says why), "none" SQLite's own defaults.
	local pragma pragmas=${PROMOFLOW_SQLITE_PRAGMAS-$SQLITE_PRAGMAS}
	[[ $pragmas == none ]] && pragmas=
	for pragma in ${pragmas:+${pragmas//,/ }}; do dc+=(--sqlite-pragma "$pragma"); done
	if running temporal "$BIN/temporal"; then
		say "temporal: already running (pid $(<"$RUN/temporal.pid"))"
	else
		port_open "$T_IP" "$T_PORT" && die "port $T_HP is already in use by another program; stop it or set PROMOFLOW_TEMPORAL_ADDRESS"
		mkdir -p "$STATE/temporal"
		start temporal "$log" "$BIN/temporal" server start-dev \
			--ip "$T_IP" --port "$T_PORT" \
			--ui-ip "$U_IP" --ui-port "$U_PORT" \
			--db-filename "$STATE/temporal/temporal.db" \
			--namespace "$PROMOFLOW_NAMESPACE" \
			--log-level warn \
			"${dc[@]}" \
			--disable-config-file --disable-config-env
		say "temporal: started (pid $(<"$RUN/temporal.pid"), log $log)"
	fi
	wait_for temporal "$log" temporal_ready
	register_search_attributes
	say "temporal: ready at $T_HP, namespace $PROMOFLOW_NAMESPACE"
}

# The custom search attributes regenerations upsert (workflows.SearchAttributeTypes;
# internal/testenv.SearchAttributes has the same list). A run whose namespace
# lacks them stalls on a failed workflow task, so they are added to new and to
# older state folders alike.
SEARCH_ATTRIBUTES=(CampaignTemplate=Keyword CampaignId=Keyword Stage=Keyword BudgetUsed=Double)

register_search_attributes() {
	local have sa
	have=$("$BIN/temporal" operator search-attribute list --namespace "$PROMOFLOW_NAMESPACE" \
		--command-timeout 5s "${TCLI_FLAGS[@]}")
	for sa in "${SEARCH_ATTRIBUTES[@]}"; do
		grep -qw "${sa%%=*}" <<<"$have" && continue
		"$BIN/temporal" operator search-attribute create --namespace "$PROMOFLOW_NAMESPACE" \
			--name "${sa%%=*}" --type "${sa#*=}" --command-timeout 5s "${TCLI_FLAGS[@]}" >/dev/null
		say "temporal: search attribute ${sa%%=*} (${sa#*=}) registered"
	done
}

start_s3() {
	local log=$LOGS/versitygw.log
	if running versitygw "$BIN/versitygw"; then
		say "versitygw: already running (pid $(<"$RUN/versitygw.pid"))"
	else
		port_open "$S_IP" "$S_PORT" && die "port $S_HP is already in use by another program; stop it or set PROMOFLOW_S3_ENDPOINT"
		mkdir -p "$STATE/s3"
		start versitygw "$log" "$BIN/versitygw" \
			--port "$S_HP" \
			--access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" \
			--region "$PROMOFLOW_S3_REGION" \
			--health /health \
			posix "${S3_POSIX_FLAGS[@]}" "$STATE/s3"
		say "versitygw: started (pid $(<"$RUN/versitygw.pid"), log $log)"
	fi
	wait_for versitygw "$log" s3_ready
	# The bucket is created through the S3 API (so versitygw records its
	# owner/ACL), by a tiny helper that also waits for ListBuckets to work.
	go build -o "$BIN/mkbucket" ./internal/testenv/cmd/mkbucket
	"$BIN/mkbucket" -timeout "${READY_TIMEOUT}s"
}

start_worker() {
	local log=$LOGS/worker.log before after
	if ! compgen -G "worker/*.go" >/dev/null; then
		die "the worker (./worker) does not exist yet, so it was not started. Temporal and S3 are up ('make down' stops them; 'make servers' starts only them)."
	fi
	before=$(sha256sum "$BIN/worker" 2>/dev/null || true)
	go build -o "$BIN/worker" ./worker || die "building ./worker failed (servers are up; 'make down' stops them)"
	after=$(sha256sum "$BIN/worker")
	if running worker "$BIN/worker"; then
		if [[ $before == "$after" ]]; then
			say "worker: already running (pid $(<"$RUN/worker.pid"))"
			return
		fi
		say "worker: binary changed, restarting"
		stop worker "$BIN/worker"
	fi
	start worker "$log" "$BIN/worker"
	say "worker: started (pid $(<"$RUN/worker.pid"), task queue $PROMOFLOW_TASK_QUEUE, log $log)"
	# No readiness signal is defined for the worker: make sure it survives
	# its start-up (connect to Temporal, check the bucket).
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.3
		alive worker || { show_log "$log"; die "worker exited during start-up; see $log"; }
	done
}

stop() {
	local name=$1 pattern=$2
	if ! running "$name" "$pattern"; then
		rm -f "$RUN/$name.pid"
		say "$name: not running"
		return
	fi
	kill_pid "$name" "$(<"$RUN/$name.pid")"
}

# kill_pid NAME PID: TERM, then KILL after STOP_TIMEOUT seconds.
kill_pid() {
	local name=$1 pid=$2 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$RUN/$name.pid"
	say "$name: stopped (pid $pid)"
}

status() {
	local name pattern
	for name in temporal versitygw worker; do
		pattern=$BIN/$name
		if running "$name" "$pattern"; then
			say "$name: running (pid $(<"$RUN/$name.pid"))"
		else
			say "$name: stopped"
		fi
	done
}

summary() {
	say ""
	say "Temporal:    $T_HP (namespace $PROMOFLOW_NAMESPACE)"
	say "Temporal UI: $PROMOFLOW_UI"
	say "S3:          $PROMOFLOW_S3_ENDPOINT bucket $PROMOFLOW_BUCKET (data in $STATE/s3/$PROMOFLOW_BUCKET)"
	say "Logs:        $LOGS/"
}

mkdir -p "$RUN" "$LOGS"
case ${1:-} in
up | servers)
	# Whatever stops a start (die, a failed command under set -e) stops
	# what it had started.
	trap 'rc=$?; ((rc == 0)) || stop_started; exit $rc' EXIT
	need_tools
	start_temporal
	start_s3
	[[ $1 == up ]] && start_worker
	summary
	;;
down)
	stop worker "$BIN/worker"
	stop versitygw "$BIN/versitygw"
	stop temporal "$BIN/temporal"
	;;
status) status ;;
*) die "usage: $0 up|servers|down|status" ;;
esac
