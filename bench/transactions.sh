#!/usr/bin/env bash
# SIP transactions per second through the real binary, driven by SIPp at rising rates.
#
#   bench/transactions.sh                          # OPTIONS, then calls to echo if available
#   RATES="100 400 1600" SECONDS_PER_RATE=3 bench/transactions.sh
#   SCENARIOS=options bench/transactions.sh        # only OPTIONS
#
# Builds `cargo build --release -p switchboard`; for each scenario starts
# `target/release/switchboard serve` on free 127.0.0.1 ports (UDP; logs to a file in the
# scratch directory, RUST_LOG as given, default info), waits for /health, and runs SIPp at
# each rate for SECONDS_PER_RATE seconds of calls (`-r RATE -m RATE*SECONDS_PER_RATE`),
# bounded by `-timeout` and by `timeout(1)`. Scenarios (bench/sipp/):
#
#   options  options.xml      OPTIONS -> 200                   response time: OPTIONS to 200
#   echo     invite_echo.xml  INVITE -> (100) (180) 200, ACK,  response times: INVITE to 200
#                             BYE -> 200                        ("setup"), BYE to 200 ("bye")
#
# The echo scenario needs the echo extension with `[echo] answer_delay_ms` (config file, set
# to 0 here so that setup time is Switchboard's own); the script asks the binary
# (`switchboard check-config`) whether it knows that key and sends one probe call first. If
# either fails it prints "echo not available" and skips the scenario.
#
# Per rate it prints calls, failed calls (every call that did not succeed, with SIPp's failure
# reasons), SIPp retransmissions, the rate achieved (completed calls over the time they took),
# the server's CPU time per call and resident memory after the rate (/proc), and p50/p99/max
# response times from SIPp's `-trace_rtt` (SIPp's clock has 1 ms resolution: "<1" is below
# 1 ms). A rate passes when no call failed and at least 90% of the rate was achieved (else
# the rate was not really offered, by SIPp, or not carried, by the server, and proves
# nothing). The scenario stops after the first rate that does not pass. Last, per scenario:
# the highest passing rate and its p99.
#
# Each scenario gets a fresh server. Within a scenario, the transactions (and their actors)
# of one rate linger for timer J or L (32 s over UDP) while the next rates run, as they would
# in service; but a few seconds per rate is a burst, not a steady state, which at rate R
# holds R * 32 s finished transactions (try `RATES=6400 SECONDS_PER_RATE=40`).
#
# Everything runs on 127.0.0.1; SIPp and the server share the machine. KEEP=1 keeps the
# scratch directory (server log, SIPp statistics and RTT files).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"

RATES="${RATES:-100 200 400 800 1600 3200 6400 12800 25600}"
SECONDS_PER_RATE="${SECONDS_PER_RATE:-4}"
SCENARIOS="${SCENARIOS:-options echo}"
export RUST_LOG="${RUST_LOG:-info}"

for tool in sipp curl python3 timeout; do
    command -v "$tool" >/dev/null || {
        echo "bench/transactions.sh: $tool not found (sipp: Debian package sip-tester)" >&2
        exit 1
    }
done

cargo build --release -p switchboard
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/release/switchboard"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints N distinct ports free on 127.0.0.1 for both UDP and TCP.
free_ports() {
    python3 - "$1" <<'PY'
import socket
import sys

held, ports = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    held += [t, u]
    ports.append(port)
print(" ".join(map(str, ports)))
PY
}

# The echo answer delay goes in a config file, if this binary knows the key.
CONFIG="$WORK/switchboard.toml"
printf '[echo]\nanswer_delay_ms = 0\n' >"$CONFIG"
if "$BIN" check-config --config "$CONFIG" >"$WORK/check-config.out" 2>&1; then
    ECHO_CONFIG=1
else
    ECHO_CONFIG=0
    : >"$CONFIG"
fi

# start_server NAME: a fresh server (new ports, empty data directory) for one scenario, so
# no scenario pays for the transactions another left lingering.
start_server() {
    local name="$1"
    read -r SIP_PORT HTTP_PORT SIPP_PORT MEDIA_PORT <<<"$(free_ports 4)"
    "$BIN" serve --config "$CONFIG" \
        --sip-listen "127.0.0.1:$SIP_PORT" \
        --http-listen "127.0.0.1:$HTTP_PORT" \
        --data-dir "$WORK/data-$name" >"$WORK/server-$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        if curl -fsS "http://127.0.0.1:$HTTP_PORT/health" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || {
            echo "switchboard exited at start-up:" >&2
            tail -20 "$WORK/server-$name.log" >&2
            exit 1
        }
        sleep 0.1
    done
    echo "switchboard /health not ready after 10 s" >&2
    exit 1
}

echo
echo "switchboard $("$BIN" --version | awk '{print $2}') (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')), UDP on 127.0.0.1, a fresh server per scenario; RUST_LOG=$RUST_LOG"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(sipp -v 2>&1 | grep -m1 -o 'SIPp v[^ ]*')"

CLK_TCK="$(getconf CLK_TCK)"
# CPU time (user + system, in clock ticks) the server has used so far.
server_cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

# run_sipp DIR SCENARIO_FILE RATE CALLS [extra sipp args...]: one bounded SIPp run in DIR.
run_sipp() {
    local dir="$1" scenario="$2" rate="$3" calls="$4"
    shift 4
    mkdir -p "$dir"
    local limit=$((calls / rate + 15)) open
    # SIPp wants open calls plus sockets below the open-file limit.
    open="$(ulimit -n)"
    [[ "$open" == unlimited ]] && open=1000000
    open=$((open - 100))
    ((open > 100000)) && open=100000
    (
        cd "$dir"
        timeout -k 5 "$((limit + 10))" sipp "127.0.0.1:$SIP_PORT" \
            -sf "$scenario" -t u1 -i 127.0.0.1 -p "$SIPP_PORT" -mp "$MEDIA_PORT" \
            -r "$rate" -m "$calls" -l "$open" -nostdin \
            -timeout "${limit}s" -timeout_error \
            -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 -trace_err \
            "$@" >sipp.out 2>&1
    )
}

# first_errors DIR: the start of SIPp's -trace_err log in DIR, if it wrote one.
first_errors() {
    local logs=("$1"/*_errors.log)
    if [[ -s "${logs[0]}" ]]; then
        echo "    first SIPp errors (${logs[0]}):"
        head -"${2:-8}" "${logs[0]}" | sed 's/^/      /'
    fi
}

# report DIR RATE CALLS RTD...: prints one result line and writes DIR/result.
report() {
    python3 - "$@" <<'PY'
import csv
import glob
import os
import sys

d, rate, calls, rtds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
stat = {}
try:
    with open(os.path.join(d, "stat.csv"), newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) >= 2:
        stat = dict(zip(rows[0], rows[-1]))
except FileNotFoundError:
    pass
ok = int(stat.get("SuccessfulCall(C)", 0) or 0)
retrans = int(stat.get("Retransmissions(C)", 0) or 0)
failed = calls - ok

# SIPp's -trace_rtt rows: completion time (ms since SIPp started), response time (ms; SIPp
# 3.6.1 measures it on its 1 ms clock), then the response time's name.
times = {name: [] for name in rtds}
done = []
for path in glob.glob(os.path.join(d, "*_rtt.csv")):
    with open(path) as f:
        for line in f:
            parts = line.strip().split(";")
            if len(parts) != 3 or parts[2] not in times:
                continue
            times[parts[2]].append(float(parts[1]))
            if parts[2] == rtds[-1]:
                done.append(float(parts[0]) / 1000.0)

# Achieved rate: completed calls over the span of their completions.
achieved = (len(done) - 1) / (max(done) - min(done)) if len(done) > 1 and max(done) > min(done) else 0.0


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    k = max(0, min(len(values) - 1, -(-len(values) * p // 100) - 1))
    return values[int(k)]


def ms(v):
    if v is None:
        return "-"
    return "<1" if v < 1.0 else f"{v:.0f}"


cpu = float(os.environ.get("SERVER_CPU_SECONDS", "0"))
rss_mb = int(os.environ.get("SERVER_RSS_KB", "0") or 0) / 1024
passed = failed == 0 and achieved >= 0.9 * rate
cols = []
for name in rtds:
    v = times[name]
    cols.append(f"{name} p50/p99/max {ms(pct(v, 50))}/{ms(pct(v, 99))}/{ms(max(v) if v else None)} ms")
verdict = "ok" if passed else ("FAILED" if failed else "rate not reached")
print(
    f"  {rate:>6}/s  calls {calls:>6}  failed {failed:>5}  retrans {retrans:>5}  "
    f"achieved {achieved:>6.0f}/s  server {cpu * 1e6 / max(ok, 1):>3.0f} us cpu/call {rss_mb:>4.0f} MB  "
    f"{'  '.join(cols)}  {verdict}"
)
reasons = [
    f"{k[len('Failed'):-3]} {v}"
    for k, v in stat.items()
    if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v not in ("", "0")
]
if reasons or failed:
    print(f"           failures by SIPp reason: {', '.join(reasons) or 'none counted (calls not finished)'}")
p99 = pct(times[rtds[0]], 99)
with open(os.path.join(d, "result"), "w") as f:
    f.write(f"{int(passed)} {rate} {ms(p99)}\n")
PY
}

# bench NAME SCENARIO_FILE RTD... [-- extra sipp args]
bench() {
    local name="$1" scenario="$2"
    shift 2
    local rtds=() extra=()
    while [[ $# -gt 0 && "$1" != "--" ]]; do
        rtds+=("$1")
        shift
    done
    [[ $# -gt 0 ]] && shift
    extra=("$@")
    local best="" best_p99=""
    echo
    echo "scenario $name ($(basename "$scenario")), ${SECONDS_PER_RATE} s of calls per rate:"
    for rate in $RATES; do
        local calls=$((rate * SECONDS_PER_RATE)) dir="$WORK/$name-$rate" rc=0 cpu0 cpu1
        cpu0="$(server_cpu_ticks)"
        run_sipp "$dir" "$scenario" "$rate" "$calls" "${extra[@]}" || rc=$?
        cpu1="$(server_cpu_ticks)"
        SERVER_CPU_SECONDS="$(python3 -c "print(($cpu1 - $cpu0) / $CLK_TCK)")" \
            SERVER_RSS_KB="$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")" \
            report "$dir" "$rate" "$calls" "${rtds[@]}"
        local passed p99
        read -r passed _ p99 <"$dir/result"
        if [[ "$passed" == 1 && "$rc" == 0 ]]; then
            best="$rate"
            best_p99="$p99"
        else
            [[ "$rc" != 0 && "$passed" == 1 ]] && echo "    sipp exited with status $rc"
            [[ -e "$dir/stat.csv" ]] || first_errors "$dir"
            break
        fi
    done
    local top="${RATES##* }" note=""
    [[ "$best" == "$top" ]] && note=", the highest rate tried"
    if [[ -n "$best" ]]; then
        echo "  => $name: highest rate with no failed transaction: $best/s$note (p99 ${rtds[0]} $best_p99 ms)"
    else
        echo "  => $name: no rate passed"
    fi
    SUMMARY+=("$name: ${best:-none}/s$note, p99 ${rtds[0]} ${best_p99:--} ms")
}

SUMMARY=()
for scenario in $SCENARIOS; do
    case "$scenario" in
        options)
            start_server options
            bench options "$ROOT/bench/sipp/options.xml" options
            ;;
        echo)
            if [[ "$ECHO_CONFIG" != 1 ]]; then
                echo
                echo "echo not available: this switchboard does not know [echo] answer_delay_ms:"
                grep -v '^ *|' "$WORK/check-config.out" | grep . | tail -2 | sed 's/^/  /'
                SUMMARY+=("echo: not available")
                continue
            fi
            start_server echo
            if ! run_sipp "$WORK/echo-probe" "$ROOT/bench/sipp/invite_echo.xml" 1 1 -s echo; then
                echo
                echo "echo not available: one call to sip:echo did not complete:"
                first_errors "$WORK/echo-probe" 20
                SUMMARY+=("echo: not available")
                stop_server
                continue
            fi
            bench echo "$ROOT/bench/sipp/invite_echo.xml" setup bye -- -s echo
            ;;
        *)
            echo "unknown scenario $scenario (options, echo)" >&2
            exit 2
            ;;
    esac
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "switchboard died during the $scenario scenario; see its log (KEEP=1)" >&2
        exit 1
    fi
    stop_server
done

echo
echo "summary (highest rate with no failed transaction, its p99):"
printf '  %s\n' "${SUMMARY[@]}"
