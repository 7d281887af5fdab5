#!/usr/bin/env bash
# RTP relay load: concurrent relayed calls at rising counts, relay CPU and packet loss.
#
#   bench/media.sh                                  # 100 250 500 1000 1500 2000 calls
#   COUNTS=500,1000 SECONDS_PER_STEP=5 bench/media.sh
#   bench/media.sh --criterion                      # also the media crate's criterion benches
#
# Builds `cargo build --release -p switchboard --example relay_load` and runs
# `relay_load drive`, which starts `relay_load serve` (the relay: RelayEndpoint actors on one
# actix System, one thread) as a child process and drives it from its own process: per call
# two phone sockets sending PCMU RTP (20 ms, 160-byte payloads) at 50 packets/s each way
# through the relay. Each step adds calls up to the count, warms up WARMUP seconds, then
# measures SECONDS_PER_STEP seconds. Per step it prints calls, packets/s offered and relayed,
# the relay process's CPU (utime + stime from /proc) and its relay thread's, as % of one core,
# loss % (both directions, and the worse one), the generator's worst lag behind its schedule,
# and the load average (the machine is shared). Last: the highest count with loss < 0.01% and
# relay CPU < 100% of one core. Steps stop early past capacity (loss > 5% or CPU >= 100%).
#
# Everything runs on 127.0.0.1 (relay ports RELAY_PORTS, default 10000-19999; the phones take
# ephemeral ports). On loopback the kernel's receive work for a datagram is done in the
# sender's system call, so the relay's CPU includes delivering what it sends to the phones
# and not receiving what they send it: about a wash, but not a NIC.
#
# --criterion also runs `cargo bench -p media --bench relay --bench dtmf --bench codec --
# --noplot` (about 4 minutes more, nearly all of it measuring).
set -euo pipefail

cd "$(dirname "$0")/.."

COUNTS="${COUNTS:-100,250,500,1000,1500,2000}"
SECONDS_PER_STEP="${SECONDS_PER_STEP:-10}"
WARMUP="${WARMUP:-2}"
GENERATOR_THREADS="${GENERATOR_THREADS:-1}"
RELAY_PORTS="${RELAY_PORTS:-10000-19999}"
CRITERION=0
for arg in "$@"; do
    case "$arg" in
        --criterion) CRITERION=1 ;;
        -h | --help)
            sed -n '2,26p' "$0"
            exit 0
            ;;
        *)
            echo "bench/media.sh: unknown argument $arg" >&2
            exit 2
            ;;
    esac
done

# Four sockets per call in the relay, two in the driver.
max_calls=0
for c in ${COUNTS//,/ }; do ((c > max_calls)) && max_calls=$c; done
need=$((4 * max_calls + 256))
if (($(ulimit -n) < need)); then
    ulimit -n "$need" 2>/dev/null || {
        echo "bench/media.sh: need $need open files (ulimit -n is $(ulimit -n))" >&2
        exit 1
    }
fi

DRIVER_PID=""
cleanup() {
    # The driver's child (serve) exits when its stdin closes, i.e. when the driver is gone.
    if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
        kill "$DRIVER_PID" 2>/dev/null || true
        wait "$DRIVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

cargo build --release -p switchboard --example relay_load
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
DRIVER="$TARGET_DIR/release/examples/relay_load"

echo "== RTP relay load ($(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg))"
steps=$(tr ',' '\n' <<<"$COUNTS" | grep -c .)
limit=$(((WARMUP + SECONDS_PER_STEP + 2) * steps + 60))
timeout "$limit" "$DRIVER" drive \
    --counts "$COUNTS" \
    --seconds "$SECONDS_PER_STEP" \
    --warmup "$WARMUP" \
    --threads "$GENERATOR_THREADS" \
    --port-min "${RELAY_PORTS%-*}" \
    --port-max "${RELAY_PORTS#*-}" &
DRIVER_PID=$!
wait "$DRIVER_PID"
DRIVER_PID=""

if ((CRITERION)); then
    echo "== criterion: media relay, dtmf, codec"
    cargo bench -p media --bench relay --bench dtmf --bench codec -- --noplot 2>&1 \
        | grep -vE 'Benchmarking|outliers|^ +[0-9]+ \(|high (mild|severe)|low (mild|severe)|^$' || true
fi
