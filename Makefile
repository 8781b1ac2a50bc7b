# promoflow developer entry points. GNU make.
# State (databases, bucket data, pid files, logs) lives in .promoflow/ (git-ignored).

# Pinned tools, built from source with `go install` into ./bin.
TEMPORAL_MODULE  := github.com/temporalio/cli
TEMPORAL_VERSION := v1.5.1
VERSITYGW_MODULE  := github.com/versity/versitygw
VERSITYGW_VERSION := v1.8.0

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT  := $(CURDIR)
BIN   := $(ROOT)/bin
STATE := $(ROOT)/.promoflow
DEMO  := $(STATE)/demo
GO    ?= go
# go test's default 10-minute timeout is per package: internal/uplift's
# oracle tests take about that beside the other packages on two cores, as
# .ci/run's 20m allows.
GOTESTFLAGS ?= -timeout 20m

# Configuration shared by the worker, the starter and the local servers.
export PROMOFLOW_TEMPORAL_ADDRESS ?= 127.0.0.1:7233
export PROMOFLOW_NAMESPACE        ?= default
export PROMOFLOW_TASK_QUEUE       ?= promoflow
export PROMOFLOW_UI               ?= http://127.0.0.1:8233
export PROMOFLOW_S3_ENDPOINT      ?= http://127.0.0.1:7070
export PROMOFLOW_BUCKET           ?= promoflow
export PROMOFLOW_S3_REGION        ?= us-east-1
export AWS_ACCESS_KEY_ID          ?= promoflow
export AWS_SECRET_ACCESS_KEY      ?= promoflow-secret
export PROMOFLOW_BIN_DIR          ?= $(BIN)

.PHONY: help tools up servers down status logs demo test chaos bench vet fmt-check clean FORCE

help: ## list targets
	@echo "promoflow make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- tools -------------------------------------------------------------------
# A tool is (re)built when it is missing or was built from another version.
bin_version = $(shell $(GO) version -m $(1) 2>/dev/null | awk '$$1 == "mod" {print $$3; exit}')
ifneq ($(call bin_version,$(BIN)/temporal),$(TEMPORAL_VERSION))
$(BIN)/temporal: FORCE
endif
ifneq ($(call bin_version,$(BIN)/versitygw),$(VERSITYGW_VERSION))
$(BIN)/versitygw: FORCE
endif

tools: $(BIN)/temporal $(BIN)/versitygw ## build bin/temporal and bin/versitygw (pinned) if missing

$(BIN)/temporal:
	@echo "building temporal $(TEMPORAL_VERSION) into bin/ (takes a few minutes)"
	GOBIN=$(BIN) $(GO) install $(TEMPORAL_MODULE)/cmd/temporal@$(TEMPORAL_VERSION)

$(BIN)/versitygw:
	@echo "building versitygw $(VERSITYGW_VERSION) into bin/"
	GOBIN=$(BIN) $(GO) install $(VERSITYGW_MODULE)/cmd/versitygw@$(VERSITYGW_VERSION)

FORCE:

# --- local stack -------------------------------------------------------------
up: tools ## start Temporal (+UI), S3 (versitygw), bucket and worker; idempotent
	@scripts/stack.sh up

servers: tools ## like up, without the worker (run it yourself: go run ./worker)
	@scripts/stack.sh servers

down: ## stop what up started; data stays in .promoflow/
	@scripts/stack.sh down

status: ## show which parts of the stack are running
	@scripts/stack.sh status

logs: ## follow the stack's logs
	@tail -n 20 -F $(STATE)/logs/*.log

demo: up ## up, generate 20k users (once), run the weekly template, print a short summary (the whole one: .promoflow/demo/summary.json)
	@mkdir -p $(DEMO)
	@if [[ ! -s $(DEMO)/events.csv.gz ]]; then \
		echo "generating $(DEMO)/events.csv.gz"; \
		$(GO) run ./starter generate --users 20000 --seed 42 --out $(DEMO)/events.partial.csv.gz; \
		mv $(DEMO)/events.partial.csv.gz $(DEMO)/events.csv.gz; \
	else \
		echo "using existing $(DEMO)/events.csv.gz"; \
	fi
	@$(GO) run ./starter run --template weekly --input $(DEMO)/events.csv.gz --seed 42 --wait --json-out $(DEMO)/summary.json
	@echo "The stack stays up ('make down' stops it); the bucket is on disk in $(STATE)/s3/$(PROMOFLOW_BUCKET)/"

# --- checks ------------------------------------------------------------------
test: tools ## go test ./... (tests start their own servers from bin/)
	$(GO) test $(GOTESTFLAGS) ./...

chaos: tools ## fault tests: workers killed per stage, S3 restarted, a shard corrupted
	$(GO) test -tags chaos -count=1 -timeout 30m -v -run Chaos ./internal/chaos/

BENCH_USERS ?= 1000000
BENCH_WORKERS ?= 1,2
# Prints per stage: seconds, rows/s, Temporal share, peak RSS per worker, CPU
# seconds and top functions; keeps the workers' CPU profiles in .promoflow/bench.
bench: tools ## full regeneration at BENCH_USERS users (default 1M, ~36M events) with BENCH_WORKERS (1,2) worker processes
	$(GO) test -tags bench -count=1 -v -run Scale -timeout 3h ./internal/scalebench \
		-users $(BENCH_USERS) -shards 16 -workers $(BENCH_WORKERS) -data $(STATE)/bench | grep -v -e '^=== ' -e '^--- '

vet: ## go vet ./...
	$(GO) vet ./...

fmt-check: ## fail if any Go file is not gofmt-formatted
	@out=$$(gofmt -l . | grep -v -e '^\.promoflow/' -e '/testdata/' || true); \
	if [[ -n $$out ]]; then echo "not gofmt-formatted (run gofmt -w):"; echo "$$out"; exit 1; fi

clean: down ## stop the stack and delete .promoflow/ (keeps the tools in bin/)
	rm -rf $(STATE)
	rm -f $(BIN)/worker $(BIN)/mkbucket

# --- promoflow against the pandas + scikit-learn baseline ------------------------
# One script run on an idle machine (run nothing beside it: the baseline peaks
# near 16 GiB at 1M users): generates `starter generate --users USERS --seed 7`
# (cached), runs ../shared/bench/baseline_pipeline.py on it, then promoflow on
# fresh servers with WORKERS worker processes (`starter run --wait`, upload
# included), and prints both, the wall-time and peak-RSS ratios, and the
# workers' CPU per stage. Needs python3-sklearn and python3-pandas.
# SKIP_BASELINE=true runs promoflow only (no ratios), for profiling a change.
USERS ?= 300000
WORKERS ?= 1
SHARDS ?= 0
SKIP_BASELINE ?= false
.PHONY: bench-compare
bench-compare: tools ## baseline_pipeline.py vs promoflow on USERS users (300000), WORKERS workers (1): wall and memory ratios
	$(GO) test -tags bench -count=1 -v -run Compare -timeout 3h ./internal/scalebench \
		-users $(USERS) -workers $(WORKERS) -compare-shards $(SHARDS) -data $(STATE)/bench-compare \
		-baseline $(ROOT)/../shared/bench/baseline_pipeline.py -skip-baseline=$(SKIP_BASELINE) | grep --line-buffered -v -e '^=== ' -e '^--- '

# --- orchestration latency -----------------------------------------------------
# Milliseconds per round of a fan-out of no-op activities on one worker with
# 4 slots, on a dev server with testenv.DynamicConfig and with Temporal's
# defaults: the floor of every stage whose activities take milliseconds.
.PHONY: bench-roundtrip
bench-roundtrip: tools ## orchestration latency: ms per fan-out round, promoflow's dev server config vs Temporal's defaults
	$(GO) test -tags bench -count=1 -v -run RoundTrip ./internal/scalebench | grep --line-buffered -v -e '^=== ' -e '^--- '

# --- orchestration at many shards ------------------------------------------------
# 5,000 generated users at each of ORCH_SHARDS shard counts (so that only the
# orchestration grows), one worker: per workflow the runs and the largest
# run's history events and MB, against Temporal's thresholds; wall per shard.
ORCH_SHARDS ?= 8,64,256
.PHONY: bench-orchestration
bench-orchestration: tools ## history events and MB per workflow and wall per shard at ORCH_SHARDS shards (5,000 users; 8..1024): every workflow run's events, MB, largest event, wall
	$(GO) test -tags bench -count=1 -v -run Orchestration -timeout 3h ./internal/scalebench \
		-orch-shards $(ORCH_SHARDS) -data $(STATE)/bench-orchestration | grep --line-buffered -v -e '^=== ' -e '^--- '

# --- forest benchmark ----------------------------------------------------------
# The same generated matrix, the same settings, both sides on 2 cores; prints
# one JSON line each. Needs the Debian packages python3-sklearn.
BENCH_ROWS ?= 1000000
BENCH_TREES ?= 100
.PHONY: bench-forest
bench-forest: ## promoflow's forest vs scikit-learn RandomForestClassifier (1M rows, 100 trees)
	$(GO) run ./scripts/bench-forest --rows $(BENCH_ROWS) --trees $(BENCH_TREES) --workers 2 --dir $(STATE)/bench-forest
	/usr/bin/python3 scripts/bench-forest/sklearn_bench.py $(STATE)/bench-forest

# --- recommendation quality ----------------------------------------------------
# Online Retail (../shared/data): for customers active before the cutoff,
# recall@10 and hit@10 of the products they buy in the horizon that they had
# not bought, for global popularity, item-to-item cosine kNN and promoflow's
# lists (internal/recommend with its defaults). One JSON line per method;
# counts, not wall times, so it runs beside other work (docs/FEATURES.md).
.PHONY: eval-recommend
eval-recommend: ## recall@10 / hit@10 on Online Retail: popularity, item kNN, promoflow's recommendations
	$(GO) run ./scripts/recommend-eval --data $(ROOT)/../shared/data/online-retail/online_retail.csv.gz \
		--cutoff 2011-09-10 --horizon-days 90

# --- features and k-means benchmark -------------------------------------------
# The features and segment stages on real servers with one worker process: time
# per stage and per million users, the worker's peak RSS per stage, k-means
# iterations, final cost against the best of 10 in-process k-means++ runs, ARI
# against the planted personas. `make bench` runs it first.
.PHONY: bench-segments
bench: bench-segments
bench-segments: tools ## features and k-means stages at BENCH_USERS users: s/stage, s per 1M users, peak RSS, cost vs reference
	$(GO) test -tags bench -count=1 -v -run Segments -timeout 3h ./internal/segbench \
		-users $(BENCH_USERS) -shards 16 -window 2 -data $(STATE)/bench | grep -v -e '^=== ' -e '^--- '

# --- ingest benchmark ------------------------------------------------------------
# Generates about 1 and 5 million synthetic events (CSV and the same rows as
# block gzip CSV as the generator writes it, and as plain gzip -1, once), then
# ingests each in a fresh process with 8 shards through internal/ingest.Local
# (the activities' plan, stage, finalize and rejects steps, splits and
# partitions 2 at a time as a worker runs activities) with the workflow's split
# and chunk sizes, and prints a JSON line each: rows/s, CPU use and peak RSS
# (VmHWM). The gzip rows are ingested three ways: read as one split
# (-gzip-whole, the path before gzip files were cut into chunks), plain gzip
# cut into chunks of text by one serial pass, and block gzip split by its
# members' index. Staging memory is
# bounded by the split and batch sizes; the deduplicating finalize step adds a
# 16-byte fingerprint (plus map overhead) per record of one shard. 5M events
# (134,400 users, about 36 events each; 4.85M). Per-reader Go benchmarks:
#   go test -run XXX -bench . ./internal/ingest
BENCH_INGEST_USERS ?= 134400
BENCH_INGEST_DIR := $(STATE)/bench-ingest
.PHONY: bench-ingest
bench-ingest: ## ingest ~1M and ~5M generated events, CSV, gzip (whole, chunked) and block gzip: rows/s, CPU use and peak memory
	@mkdir -p $(BENCH_INGEST_DIR)
	$(GO) build -o $(BENCH_INGEST_DIR)/bench-ingest ./scripts/bench-ingest
	@small=$$(( $(BENCH_INGEST_USERS) / 5 )); \
	for u in $$small $(BENCH_INGEST_USERS); do \
		f=$(BENCH_INGEST_DIR)/events-$$u.csv; \
		[[ -s $$f ]] || $(BENCH_INGEST_DIR)/bench-ingest -gen -users $$u -out $$f; \
		[[ -s $$f.gz ]] || $(BENCH_INGEST_DIR)/bench-ingest -gen -users $$u -out $$f.gz; \
		[[ -s $${f%.csv}-plain.csv.gz ]] || gzip -1 -c $$f > $${f%.csv}-plain.csv.gz; \
	done; \
	for u in $$small $(BENCH_INGEST_USERS); do \
		f=$(BENCH_INGEST_DIR)/events-$$u.csv; \
		$(BENCH_INGEST_DIR)/bench-ingest -in $$f -dir $(BENCH_INGEST_DIR)/out -shards 8; \
		$(BENCH_INGEST_DIR)/bench-ingest -in $$f.gz -dir $(BENCH_INGEST_DIR)/out -shards 8 -gzip-whole; \
		$(BENCH_INGEST_DIR)/bench-ingest -in $${f%.csv}-plain.csv.gz -dir $(BENCH_INGEST_DIR)/out -shards 8; \
		$(BENCH_INGEST_DIR)/bench-ingest -in $$f.gz -dir $(BENCH_INGEST_DIR)/out -shards 8; \
	done
	@rm -rf $(BENCH_INGEST_DIR)/out
