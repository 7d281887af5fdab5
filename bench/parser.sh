#!/usr/bin/env bash
# SIP parser throughput: Switchboard's parser against rsip, in one criterion run.
#
#   bench/parser.sh [criterion flags...]
#   bench/parser.sh --warm-up-time 1 --measurement-time 3     # a quicker run
#
# Runs `cargo bench -p sip --bench parse -- --noplot`, then prints messages per second for each
# parser from criterion's estimates (target/criterion/<group>/parse_mix/new/estimates.json) and
# the ratio switchboard_sip / rsip. One iteration of the benchmark is a mix of 6 messages.
set -euo pipefail

cd "$(dirname "$0")/.."

cargo bench -p sip --bench parse -- --noplot "$@"

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

python3 - "$TARGET_DIR/criterion" <<'PY'
import json
import os
import sys

root = sys.argv[1]
MESSAGES_PER_ITERATION = 6


def estimate(group):
    path = os.path.join(root, group, "parse_mix", "new", "estimates.json")
    with open(path) as f:
        e = json.load(f)
    # criterion's headline figure: the slope of the linear regression when it has one.
    best = e.get("slope") or e["mean"]
    ci = best["confidence_interval"]
    return best["point_estimate"], ci["lower_bound"], ci["upper_bound"]


def rate(ns):
    return MESSAGES_PER_ITERATION * 1e9 / ns


rates = {}
print()
print("SIP parser throughput (parse + read Via branch, tags, Call-ID, CSeq, Max-Forwards,")
print("Contact, Content-Length, Authorization; mix of 6 messages per iteration)")
for group in ("switchboard_sip", "rsip"):
    ns, lo, hi = estimate(group)
    rates[group] = rate(ns)
    print(
        f"  {group:<16} {rate(ns):>12,.0f} msgs/s  "
        f"({ns / MESSAGES_PER_ITERATION:,.0f} ns/msg; 95% CI {rate(hi):,.0f} .. {rate(lo):,.0f} msgs/s)"
    )
ratio = rates["switchboard_sip"] / rates["rsip"]
print(f"  ratio switchboard_sip / rsip: {ratio:.2f}x (target >= 2x: {'met' if ratio >= 2 else 'NOT met'})")
PY
