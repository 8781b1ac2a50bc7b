#!/usr/bin/env bash
# Measures the production loop against the oracle (issue: "the weekly loop
# in production learns from its own campaigns"): runs `starter simulate`
# for each world seed, with the default exploration (0.5, 0.5, then 0.01)
# and with 0.05 from week 1 (confounded history, no randomized warm-up),
# and prints each week's plan / oracle profit and the segment ceiling.
# Needs the stack (make up). Usage:
#   scripts/loop-oracle.sh [seeds...]        (default: 5 6 7)
# Environment: WEEKS (8), USERS (20000), OUT (.promoflow/loop-oracle),
# EXPLORE ("default 0.05": the explorations to run, in order).
set -euo pipefail
cd "$(dirname "$0")/.."
weeks=${WEEKS:-8} users=${USERS:-20000} out=${OUT:-.promoflow/loop-oracle}
seeds=("$@"); [[ ${#seeds[@]} -gt 0 ]] || seeds=(5 6 7)
mkdir -p "$out"
go build -o "$out/starter" ./starter
for explore in ${EXPLORE:-default 0.05}; do
	for seed in "${seeds[@]}"; do
		flags=(); [[ $explore == default ]] || flags=(--explore "$explore")
		f="$out/seed$seed-explore-$explore.json"
		start=$(date +%s)
		"$out/starter" simulate --weeks "$weeks" --users "$users" --seed "$seed" "${flags[@]}" --json >"$f"
		python3 - "$f" "$seed" "$explore" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
path, seed, explore, secs = sys.argv[1:]
weeks = json.load(open(path))["weeks"]
row = lambda w: f"w{w['week']} {w['plan_profit'] / w['oracle_profit']:.3f}"
print(f"seed {seed} explore {explore} ({secs} s): " + ", ".join(row(w) for w in weeks)
      + f"; segment ceiling {weeks[-1]['segment_profit'] / weeks[-1]['oracle_profit']:.3f}"
      + "; learners " + ",".join(w.get("learner") or "-" for w in weeks))
PY
	done
done
