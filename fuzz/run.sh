#!/usr/bin/env bash
# Runs the SIP parser fuzzer on the stable toolchain.
#
#   fuzz/run.sh [SECONDS] [extra libFuzzer flags...]      (default 300 seconds)
#
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address, -Cpasses=sancov-module,
# ...). RUSTC_BOOTSTRAP=1 lets the stable compiler accept them, so no nightly toolchain is needed.
# FUZZ_SANITIZER=none skips AddressSanitizer (the crate forbids unsafe code, so ASan mostly
# costs speed; panics are caught either way). The corpus is seeded from the RFC 4475 torture
# messages; corpus/ and artifacts/ are gitignored. libFuzzer runs one process on one core by
# default (-jobs=1 would do the same but write its output to fuzz-0.log instead).
set -euo pipefail

FUZZ_SECONDS="${1:-300}"
shift || true
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

CORPUS="$HERE/corpus/parse_message"
mkdir -p "$CORPUS"
for f in "$HERE"/../services/sip/testdata/conformance/rfc4475/messages/*.dat; do
    cp -n "$f" "$CORPUS/rfc4475-$(basename "$f")"
done
echo "corpus: $(find "$CORPUS" -type f | wc -l) files"

export RUSTC_BOOTSTRAP=1
exec cargo fuzz run --sanitizer "${FUZZ_SANITIZER:-address}" parse_message "$CORPUS" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$@"
