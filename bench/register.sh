#!/usr/bin/env bash
# Registrations per second and memory per binding: Switchboard's registrar against Kamailio's
# (issue #5 part 7). From the repository root:
#
#   bench/register.sh
#
# Environment (defaults in brackets):
#   RATES             calls/s to try, rising [4000 16000 24000 28000 30000 32000 34000 36000]
#   SECONDS_PER_RATE  seconds of calls per rate [10]
#   USERS             users registered in the rate steps [10000]
#   MEMORY_USERS      distinct users registered once for the memory figure [100000]
#   MEMORY_RATE       calls/s while doing so [2000]
#   TARGETS           servers, in order [kamailio switchboard]
#   MEMORY            1 measures memory per binding, 0 skips it [1]
#   KAMAILIO_CHILDREN Kamailio's UDP worker processes [2: the machine has two cores;
#                     Kamailio's own default is 8]
#   RUST_LOG          Switchboard's log level [info, its default]
#   SIPP_BUFFER       SIPp's socket send and receive buffer, bytes [4194304]: with SIPp's
#                     default (64 KiB asked, 128 KiB given) its own socket drops responses
#                     that arrive in bursts, which shows as retransmissions of the server
#                     under test (the kernel caps it at net.core.rmem_max)
#   SWITCHBOARD_BIN   a switchboard binary to run instead of building this tree's (to compare
#                     builds back to back)
#   SIP_WORKERS       Switchboard's [sip] workers, its SIP threads [unset: its default,
#                     1]
#   KEEP=1            keeps the scratch directory (server logs, SIPp statistics); a full run
#                     writes about 2 GB there (mostly Switchboard's data directories and info
#                     logs), under TMPDIR [/tmp], removed at the end without KEEP=1
#
# One call is one registration: REGISTER -> 401 -> REGISTER with digest credentials (MD5,
# qop=auth) -> 200 (bench/sipp/register_auth.xml), for the next of USERS users with random
# passwords (user00001, user00002, ...; each is registered again every USERS calls, a
# refresh of its one binding). For each target the script starts a fresh server on free
# 127.0.0.1 ports with the users loaded, then runs SIPp 3.6.1 over UDP at each rate:
#
#   sipp 127.0.0.1:PORT -sf bench/sipp/register_auth.xml -inf users.sipp -t u1 -i 127.0.0.1
#        -r RATE -m RATE*SECONDS_PER_RATE -timeout ... -timeout_error -trace_stat -trace_rtt
#
# and prints, per rate: calls, failed calls with SIPp's reasons (unexpected messages, receive
# timeouts, ...), retransmissions (a warning: the server or SIPp fell behind for 500 ms),
# the rate achieved (completed calls over the time they took), the server's CPU time per
# call (all its processes, from /proc), its memory (Kamailio: shared memory in use, where
# its bindings live; Switchboard: resident set size), SIPp's own CPU use (near 100% means
# SIPp, not the server, is the limit) and the response time (first REGISTER to the 200)
# at p50/p99/max. A rate passes when no call failed and at least 90% of it was achieved;
# a target stops at the first rate that does not pass. The summary prints the highest
# passing rate of both side by side.
#
# Memory per binding (MEMORY=1): a fresh server with MEMORY_USERS users, each registered once
# at MEMORY_RATE; then (memory after - memory before) / MEMORY_USERS. For Switchboard the
# measure is RSS, taken once the registrations' transactions have ended (timer J, 32 s over
# UDP; the script waits for sip_transactions_active to reach 0). Freed memory stays in the
# process, so "before" is taken after a warm-up of as many registrations of a single user
# at the same rate (the same transactions come and go, one binding is kept); the figure
# counting from the server's start is printed too. For Kamailio, which answers REGISTER
# statelessly, the measure is its shared memory in use (kamcmd core.shmmem real_used, where
# usrloc keeps bindings), and the resident memory of all its processes (the sum of their
# Pss, so shared pages count once).
#
# Kamailio: bench/kamailio/kamailio.cfg via bench/kamailio/start.sh (HA1 of every user in a
# shared-memory hash table, usrloc db_mode 0, stateless replies). Switchboard: the release
# binary (cargo build --release -p switchboard), a fresh --data-dir with the users imported
# (`switchboard endpoint import`), and a config where registrations last 3600 s, qualify is
# off (Kamailio does not qualify either) and the lockout cannot trigger. SIPp 3.6.1 answers
# only the first challenge of a 401 and only MD5, so the config offers MD5 first
# (digest_algorithms = ["MD5", "SHA-256"]) when the binary knows that key. Before its rates
# the script registers one user with tests/sipp/register_auth.xml; if that fails (REGISTER
# answered 405 before the registrar exists, or a first challenge SIPp cannot answer), the
# Switchboard half prints why and is marked "not available".
#
# Everything binds 127.0.0.1 only; SIPp and the server share the machine.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"

RATES="${RATES:-4000 16000 24000 28000 30000 32000 34000 36000}"
SECONDS_PER_RATE="${SECONDS_PER_RATE:-10}"
USERS="${USERS:-10000}"
MEMORY_USERS="${MEMORY_USERS:-100000}"
MEMORY_RATE="${MEMORY_RATE:-2000}"
TARGETS="${TARGETS:-kamailio switchboard}"
MEMORY="${MEMORY:-1}"
KAMAILIO_CHILDREN="${KAMAILIO_CHILDREN:-2}"
export RUST_LOG="${RUST_LOG:-info}"
SIP_WORKERS="${SIP_WORKERS:-}"
SWITCHBOARD_BIN="${SWITCHBOARD_BIN:-}"
SIPP_BUFFER="${SIPP_BUFFER:-4194304}"

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf '\nbench/register.sh: ERROR: %s\n\n' "$*" >&2
    exit 1
}

# --- Tools: install the Debian packages that are missing, as scripts/test.sh does -------
REQUIRED_TOOLS=(
    "sipp sip-tester"
    "kamailio kamailio"
    "kamcmd kamailio"
    "curl curl"
    "python3 python3"
    "pgrep procps"
    "timeout coreutils"
)
missing_pkgs=()
for entry in "${REQUIRED_TOOLS[@]}"; do
    tool=${entry%% *} pkg=${entry##* }
    if ! type -P "$tool" >/dev/null 2>&1 && [[ " ${missing_pkgs[*]-} " != *" $pkg "* ]]; then
        missing_pkgs+=("$pkg")
    fi
done
if ((${#missing_pkgs[@]} > 0)); then
    log "missing tools: installing Debian packages ${missing_pkgs[*]}"
    command -v apt-get >/dev/null ||
        die "apt-get not found; install ${missing_pkgs[*]} (Debian names) and re-run"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "not root and no sudo: apt-get install -y ${missing_pkgs[*]}, then re-run"
        sudo_cmd=(sudo)
        [[ -t 0 ]] || sudo_cmd=(sudo -n)
    fi
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600 update ||
        die "apt-get update failed; install ${missing_pkgs[*]} by hand"
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600 install "${missing_pkgs[@]}" ||
        die "apt-get install ${missing_pkgs[*]} failed; install them by hand"
    if [[ " ${missing_pkgs[*]} " == *" kamailio "* ]]; then
        log "note: on a systemd machine the Debian package may have enabled and started a kamailio"
        log "      system service on port 5060; this benchmark never uses it (its own Kamailio runs in"
        log "      the foreground on free 127.0.0.1 ports). Stop it if unwanted: systemctl disable --now kamailio"
    fi
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-register-bench.XXXXXX")"
SERVER_PID=""
SERVER_KIND=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -n "$SERVER_PID" ]] && wait "$SERVER_PID" 2>/dev/null || true
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

# --- Users ------------------------------------------------------------------------------
# users-N.csv: `username,password,group` with a header (switchboard endpoint import and
# bench/kamailio/start.sh read it); users-N.sipp: the SIPp injection file, in the layout of
# tests/sipp/register_users.csv (user;password;[authentication ...];[wrong password]).
make_users() {
    python3 - "$WORK" "$@" <<'PY'
import os
import secrets
import string
import sys

work, counts = sys.argv[1], sorted({int(n) for n in sys.argv[2:]})
alphabet = string.ascii_letters + string.digits
# A letter first: SIPp reads a password starting with 0x as hexadecimal bytes.
users = [
    (f"user{i:05d}", secrets.choice(string.ascii_letters)
     + "".join(secrets.choice(alphabet) for _ in range(15)))
    for i in range(1, max(counts) + 1)
]
for n in counts:
    with open(os.path.join(work, f"users-{n}.csv"), "w") as f:
        f.write("username,password,group\n")
        for u, p in users[:n]:
            f.write(f"{u},{p},bench\n")
    with open(os.path.join(work, f"users-{n}.sipp"), "w") as f:
        f.write("SEQUENTIAL\n")
        for u, p in users[:n]:
            f.write(f"{u};{p};[authentication username={u} password={p}];"
                    f"[authentication username={u} password=wrong-{p}]\n")
PY
}

# --- Servers ----------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
server_pids() {
    echo "$SERVER_PID"
    [[ "$SERVER_KIND" == kamailio ]] && pgrep -P "$SERVER_PID" || true
}
# CPU time (user + system, clock ticks) of the server's processes so far.
server_cpu_ticks() {
    local total=0 pid t
    for pid in $(server_pids); do
        t="$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)"
        total=$((total + t))
    done
    echo "$total"
}
# Resident memory (kB) of the server: Switchboard's RSS; for Kamailio's processes, which
# share pages, the sum of their proportional set sizes (Pss, shared pages split between
# the processes mapping them), which counts every page once.
server_rss_kb() {
    local total=0 pid r
    for pid in $(server_pids); do
        if [[ "$SERVER_KIND" == kamailio ]]; then
            r="$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)"
        else
            r="$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
        fi
        total=$((total + ${r:-0}))
    done
    echo "$total"
}
# Kamailio's shared memory in use (bytes, allocator overhead included).
kamailio_shm_used() {
    kamcmd -s "unix:$KAM_DIR/ctl.sock" core.shmmem | awk '$1 == "real_used:" {print $2}'
}
# What the per-rate line shows as the server's memory, in kB.
server_mem_kb() {
    if [[ "$SERVER_KIND" == kamailio ]]; then
        echo $(($(kamailio_shm_used) / 1024))
    else
        server_rss_kb
    fi
}
server_mem_label() { [[ "$SERVER_KIND" == kamailio ]] && echo "shm" || echo "RSS"; }

# start_kamailio NAME USERS_CSV SHM_MB
start_kamailio() {
    local name="$1" users="$2" shm="$3"
    read -r SIP_PORT SIPP_PORT MEDIA_PORT <<<"$(free_ports 3)"
    KAM_DIR="$WORK/kamailio-$name"
    SERVER_KIND=kamailio
    KAMAILIO_SHM_MB="$shm" "$ROOT/bench/kamailio/start.sh" "$users" "127.0.0.1:$SIP_PORT" "$KAM_DIR" \
        -A "CHILDREN=$KAMAILIO_CHILDREN" -A LOCKOUT_MAX_FAILURES=1000000 \
        >"$WORK/kamailio-$name.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        if kamcmd -s "unix:$KAM_DIR/ctl.sock" core.uptime >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || {
            tail -20 "$WORK/kamailio-$name.log" >&2
            die "kamailio exited at start-up (log above)"
        }
        sleep 0.1
    done
    die "kamailio not answering on its control socket after 30 s"
}

SWITCHBOARD_READY=""
SWITCHBOARD_WHY=""
# prepare_switchboard: build, and write the config. Sets SWITCHBOARD_READY=1 or explains why
# not in SWITCHBOARD_WHY.
prepare_switchboard() {
    [[ -n "$SWITCHBOARD_READY$SWITCHBOARD_WHY" ]] && return 0
    if [[ -n "$SWITCHBOARD_BIN" ]]; then
        BIN="$SWITCHBOARD_BIN"
        log "switchboard binary: $BIN (not built)"
    else
        log "cargo build --release -p switchboard"
        if ! cargo build --release -p switchboard >"$WORK/build.log" 2>&1; then
            tail -20 "$WORK/build.log" >&2
            SWITCHBOARD_WHY="the release build failed (log above)"
            return 0
        fi
        local target_dir
        target_dir="$(cargo metadata --format-version 1 --no-deps |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
        BIN="$target_dir/release/switchboard"
    fi
    CONFIG="$WORK/switchboard.toml"
    # Registrations last an hour (longer than any run), no qualify OPTIONS, no lockout.
    local base='[registrar]
realm = "switchboard"
min_expires = 60
max_expires = 3600
default_expires = 3600
qualify_interval_secs = 0
[registrar.lockout]
max_failures = 1000000
window_secs = 1
lockout_secs = 1'
    # MD5 first, for SIPp 3.6.1, if this binary lets us say so.
    printf '%s\n' "$base" | sed 's/^qualify_interval_secs = 0$/&\ndigest_algorithms = ["MD5", "SHA-256"]/' >"$CONFIG"
    if "$BIN" check-config --config "$CONFIG" >"$WORK/check-config.out" 2>&1; then
        ALGORITHMS_NOTE='digest_algorithms = ["MD5", "SHA-256"]'
    else
        printf '%s\n' "$base" >"$CONFIG"
        ALGORITHMS_NOTE="the binary's default digest algorithms (it does not know digest_algorithms)"
        if ! "$BIN" check-config --config "$CONFIG" >"$WORK/check-config.out" 2>&1; then
            SWITCHBOARD_WHY="this switchboard does not accept the [registrar] config: $(grep . "$WORK/check-config.out" | tail -1)"
            return 0
        fi
    fi
    if [ -n "$SIP_WORKERS" ]; then
        { printf '[sip]\nworkers = %s\n' "$SIP_WORKERS"; cat "$CONFIG"; } >"$CONFIG.new"
        mv "$CONFIG.new" "$CONFIG"
        ALGORITHMS_NOTE="$ALGORITHMS_NOTE, [sip] workers = $SIP_WORKERS"
    fi
    SWITCHBOARD_READY=1
}

# import_endpoints DATA_DIR USERS_CSV
import_endpoints() {
    local data="$1" users="$2" n
    n=$(($(wc -l <"$users") - 1))
    if "$BIN" endpoint import --help >/dev/null 2>&1; then
        "$BIN" endpoint import "$users" --data-dir "$data" >"$data.import.log" 2>&1 ||
            die "switchboard endpoint import failed: $(tail -3 "$data.import.log")"
    else
        log "no 'switchboard endpoint import' in this binary: adding $n endpoints one by one"
        "$BIN" endpoint add --help >/dev/null 2>&1 ||
            die "this switchboard has neither 'endpoint import' nor 'endpoint add'"
        tail -n +2 "$users" | while IFS=, read -r user password group; do
            "$BIN" endpoint add "$user" --password "$password" --group "$group" --data-dir "$data" >/dev/null
        done
    fi
}

# start_switchboard NAME USERS_CSV
start_switchboard() {
    local name="$1" users="$2" http t0
    read -r SIP_PORT HTTP_PORT SIPP_PORT MEDIA_PORT <<<"$(free_ports 4)"
    SERVER_KIND=switchboard
    local data="$WORK/switchboard-$name"
    mkdir -p "$data"
    t0=$(date +%s.%N)
    import_endpoints "$data" "$users"
    log "switchboard: $(($(wc -l <"$users") - 1)) endpoints imported in $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s"
    "$BIN" serve --config "$CONFIG" \
        --sip-listen "127.0.0.1:$SIP_PORT" \
        --http-listen "127.0.0.1:$HTTP_PORT" \
        --data-dir "$data" >"$WORK/switchboard-$name.log" 2>&1 &
    SERVER_PID=$!
    http="http://127.0.0.1:$HTTP_PORT"
    for _ in $(seq 300); do
        if curl -fsS "$http/health" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || {
            tail -20 "$WORK/switchboard-$name.log" >&2
            die "switchboard exited at start-up (log above)"
        }
        sleep 0.1
    done
    die "switchboard /health not ready after 30 s"
}

# --- SIPp -------------------------------------------------------------------------------
# run_sipp DIR SCENARIO INJECTION RATE CALLS [extra sipp args...]: one bounded SIPp run in
# DIR; its CPU time goes to DIR/sipp.cpu ("user sys" seconds).
run_sipp() {
    local dir="$1" scenario="$2" inf="$3" rate="$4" calls="$5"
    shift 5
    mkdir -p "$dir"
    local limit=$((calls / rate + 15)) open rc=0
    open="$(ulimit -n)"
    [[ "$open" == unlimited ]] && open=1000000
    open=$((open - 100))
    ((open > 100000)) && open=100000
    (
        cd "$dir"
        TIMEFORMAT='%U %S'
        {
            time timeout -k 5 "$((limit + 10))" sipp "127.0.0.1:$SIP_PORT" \
                -sf "$scenario" -inf "$inf" -t u1 -i 127.0.0.1 -p "$SIPP_PORT" -mp "$MEDIA_PORT" \
                -r "$rate" -m "$calls" -l "$open" -nostdin -buff_size "$SIPP_BUFFER" \
                -timeout "${limit}s" -timeout_error -default_behaviors all,-bye \
                -trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 1 -trace_err \
                "$@" >sipp.out 2>&1
        } 2>sipp.cpu
    ) || rc=$?
    return "$rc"
}

# first_errors DIR [LINES]: the start of SIPp's -trace_err log in DIR, if it wrote one.
first_errors() {
    local logs=("$1"/*_errors.log)
    if [[ -s "${logs[0]}" ]]; then
        echo "    first SIPp errors (${logs[0]#"$WORK/"}):"
        head -"${2:-8}" "${logs[0]}" | cut -c1-200 | sed 's/^/      /'
    fi
}

# report DIR RATE CALLS: prints one result line and writes DIR/result
# ("passed rate p99 achieved failed_summary").
report() {
    python3 - "$@" <<'PY'
import csv
import glob
import os
import sys

d, rate, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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

times, done = [], []
for path in glob.glob(os.path.join(d, "*_rtt.csv")):
    with open(path) as f:
        for line in f:
            parts = line.strip().split(";")
            if len(parts) != 3 or parts[2] != "register":
                continue
            times.append(float(parts[1]))
            done.append(float(parts[0]) / 1000.0)
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
mem_mb = int(os.environ.get("SERVER_MEM_KB", "0") or 0) / 1024
mem_label = os.environ.get("SERVER_MEM_LABEL", "mem")
sipp_cpu = 0.0
try:
    with open(os.path.join(d, "sipp.cpu")) as f:
        user, sys_ = f.read().split()[-2:]
        sipp_cpu = float(user) + float(sys_)
except (FileNotFoundError, ValueError):
    pass
span = (max(done) - min(done)) if len(done) > 1 else 0.0
sipp_pct = 100 * sipp_cpu / span if span > 0 else 0.0
passed = failed == 0 and achieved >= 0.9 * rate
verdict = "ok" if passed else ("FAILED" if failed else "rate not reached")
warn = "  (retransmissions: warning)" if retrans and passed else ""
print(
    f"  {rate:>6}/s  calls {calls:>6}  failed {failed:>5}  retrans {retrans:>5}  "
    f"achieved {achieved:>6.0f}/s  server {cpu * 1e6 / max(ok, 1):>4.0f} us cpu/call "
    f"{mem_label} {mem_mb:>5.0f} MB  sipp cpu {sipp_pct:>3.0f}%  "
    f"p50/p99/max {ms(pct(times, 50))}/{ms(pct(times, 99))}/{ms(max(times) if times else None)} ms  "
    f"{verdict}{warn}"
)
reasons = [
    f"{k[len('Failed'):-3]} {v}"
    for k, v in stat.items()
    if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v not in ("", "0")
]
why = ", ".join(reasons) or ("none counted (calls not finished)" if failed else "")
if failed:
    print(f"           failures by SIPp reason: {why}")
elif not passed:
    why = f"{achieved:.0f}/s achieved"
with open(os.path.join(d, "result"), "w") as f:
    f.write(f"{int(passed)} {rate} {ms(pct(times, 99))} {achieved:.0f} {why.replace(' ', '_') or '-'}\n")
PY
}

# rates NAME INJECTION: the rising rates against the running server; sets BEST_<NAME> etc.
declare -A BEST BEST_P99 FIRST_FAIL MEMORY_RESULT
rates() {
    local name="$1" inf="$2" rate
    echo
    echo "$name: REGISTER/401/REGISTER/200 per call, $USERS users, ${SECONDS_PER_RATE} s of calls per rate:"
    for rate in $RATES; do
        local calls=$((rate * SECONDS_PER_RATE)) dir="$WORK/$name-$rate" rc=0 cpu0 cpu1
        cpu0="$(server_cpu_ticks)"
        run_sipp "$dir" "$ROOT/bench/sipp/register_auth.xml" "$inf" "$rate" "$calls" || rc=$?
        cpu1="$(server_cpu_ticks)"
        SERVER_CPU_SECONDS="$(python3 -c "print(($cpu1 - $cpu0) / $CLK_TCK)")" \
            SERVER_MEM_KB="$(server_mem_kb)" SERVER_MEM_LABEL="$(server_mem_label)" \
            report "$dir" "$rate" "$calls"
        local passed p99 achieved why
        read -r passed _ p99 achieved why <"$dir/result"
        if [[ "$passed" == 1 && "$rc" == 0 ]]; then
            BEST[$name]="$rate"
            BEST_P99[$name]="$p99"
        else
            [[ "$rc" != 0 && "$passed" == 1 ]] && echo "    sipp exited with status $rc"
            first_errors "$dir" 4
            FIRST_FAIL[$name]="$rate/s: ${why//_/ }"
            break
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            FIRST_FAIL[$name]="$name died at $rate/s"
            echo "  $name died; see its log (KEEP=1)"
            break
        fi
    done
    local top="${RATES##* }"
    if [[ -n "${BEST[$name]-}" ]]; then
        local note=""
        [[ "${BEST[$name]}" == "$top" ]] && note=", the highest rate tried"
        echo "  => $name: highest rate with no failed registration: ${BEST[$name]}/s$note (p99 ${BEST_P99[$name]} ms)"
    else
        echo "  => $name: no rate passed"
    fi
}

# probe NAME INJECTION: one registration with the functional scenario, or why it failed.
probe() {
    local name="$1" inf="$2" dir="$WORK/$1-probe"
    if run_sipp "$dir" "$ROOT/tests/sipp/register_auth.xml" "$inf" 1 1; then
        return 0
    fi
    echo
    echo "$name: REGISTER not available: one registration with tests/sipp/register_auth.xml failed:"
    first_errors "$dir" 14
    local reason
    reason="$(grep -o -m1 -E "first challenge is algorithm=[^ ]+|received 'SIP/2.0 [0-9]{3}[^'$]*|timed out|receive timeout" "$dir"/*_errors.log 2>/dev/null | head -1 | sed "s/received 'SIP\/2.0 /answered /")"
    FIRST_FAIL[$name]="not available (${reason:-see above})"
    return 1
}

# wait_transactions: until Switchboard's sip_transactions_active is 0 (timer J: 32 s over
# UDP after the last registration), at most 90 s; prints the count left.
wait_transactions() {
    local http="http://127.0.0.1:$HTTP_PORT" active="?"
    for _ in $(seq 90); do
        active="$(curl -fsS "$http/metrics" 2>/dev/null | awk '/^sip_transactions_active/ {s += $2} END {print s + 0}')"
        [[ "$active" == 0 ]] && break
        sleep 1
    done
    sleep 1
    echo "$active"
}

# memory NAME: fresh server, MEMORY_USERS distinct registrations, memory per binding.
memory() {
    local name="$1" inf="$WORK/users-$MEMORY_USERS.sipp" csv="$WORK/users-$MEMORY_USERS.csv"
    local dir="$WORK/$name-memory" rc=0 passed failed_note=""
    echo
    echo "$name: memory per binding, $MEMORY_USERS distinct users registered once at $MEMORY_RATE/s:"
    if [[ "$name" == kamailio ]]; then
        local before_shm after_shm before_rss after_rss registered
        start_kamailio memory "$csv" 1024
        sleep 2
        before_shm="$(kamailio_shm_used)"
        before_rss="$(server_rss_kb)"
        run_sipp "$dir" "$ROOT/bench/sipp/register_auth.xml" "$inf" "$MEMORY_RATE" "$MEMORY_USERS" || rc=$?
        SERVER_CPU_SECONDS=0 SERVER_MEM_KB="$(server_mem_kb)" SERVER_MEM_LABEL="$(server_mem_label)" \
            report "$dir" "$MEMORY_RATE" "$MEMORY_USERS"
        read -r passed _ <"$dir/result"
        [[ "$passed" == 1 && "$rc" == 0 ]] || failed_note=" (not every registration succeeded: see above)"
        sleep 2
        after_shm="$(kamailio_shm_used)"
        after_rss="$(server_rss_kb)"
        registered="$(kamcmd -s "unix:$KAM_DIR/ctl.sock" stats.get_statistics usrloc: 2>/dev/null | awk '$1 == "usrloc:location_contacts" {print $3}' || true)"
        MEMORY_RESULT[$name]="$(python3 -c "
n = $MEMORY_USERS
print(f'{($after_shm - $before_shm) / n:,.0f} B of shared memory per binding ({($after_shm - $before_shm) / 2**20:.1f} MB for {n:,}); resident, all processes: {($after_rss - $before_rss) * 1024 / n:,.0f} B')
")$failed_note"
        echo "  usrloc location_contacts: ${registered:-?}; shm in use $((before_shm / 1048576)) -> $((after_shm / 1048576)) MB; resident (Pss, all processes) $((before_rss / 1024)) -> $((after_rss / 1024)) MB"
    else
        local rss0 rss1 rss2 active
        start_switchboard memory "$csv"
        if ! probe "$name (memory)" "$inf"; then
            MEMORY_RESULT[$name]="not available"
            stop_server
            return 0
        fi
        sleep 2
        rss0="$(server_rss_kb)"
        # Warm-up: as many registrations at the same rate, all of one user. Transactions
        # come and go as in the measured run, so the allocator reaches the same high-water
        # mark (freed memory stays in the process: RSS never goes back down), while the
        # location service holds one binding.
        head -2 "$inf" >"$WORK/one-user.sipp"
        run_sipp "$dir-warmup" "$ROOT/bench/sipp/register_auth.xml" "$WORK/one-user.sipp" "$MEMORY_RATE" "$MEMORY_USERS" || rc=$?
        SERVER_CPU_SECONDS=0 SERVER_MEM_KB="$(server_mem_kb)" SERVER_MEM_LABEL="$(server_mem_label)" \
            report "$dir-warmup" "$MEMORY_RATE" "$MEMORY_USERS" | sed 's/^  /  warm-up (one user) /'
        active="$(wait_transactions)"
        rss1="$(server_rss_kb)"
        echo "  after the warm-up and timer J (transactions left: $active): RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB"
        run_sipp "$dir" "$ROOT/bench/sipp/register_auth.xml" "$inf" "$MEMORY_RATE" "$MEMORY_USERS" || rc=$?
        SERVER_CPU_SECONDS=0 SERVER_MEM_KB="$(server_mem_kb)" SERVER_MEM_LABEL="$(server_mem_label)" \
            report "$dir" "$MEMORY_RATE" "$MEMORY_USERS" | sed 's/^  /  distinct users     /'
        read -r passed _ <"$dir/result"
        [[ "$passed" == 1 && "$rc" == 0 ]] || failed_note=" (not every registration succeeded: see above)"
        active="$(wait_transactions)"
        rss2="$(server_rss_kb)"
        echo "  after $MEMORY_USERS distinct users and timer J (transactions left: $active): RSS $((rss1 / 1024)) -> $((rss2 / 1024)) MB"
        MEMORY_RESULT[$name]="$(python3 -c "
n = $MEMORY_USERS
print(f'{($rss2 - $rss1) * 1024 / n:,.0f} B of RSS per binding after the warm-up (target < 2 KiB); {($rss2 - $rss0) * 1024 / n:,.0f} B counting from the start (the transactions\' high-water mark included)')
")$failed_note"
    fi
    echo "  => $name: ${MEMORY_RESULT[$name]}"
    stop_server
}

# --- Run --------------------------------------------------------------------------------
sizes=("$USERS")
[[ "$MEMORY" == 1 ]] && sizes+=("$MEMORY_USERS")
log "generating users (${sizes[*]}) in $WORK"
make_users "${sizes[@]}"

echo
echo "bench/register.sh (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')), UDP on 127.0.0.1"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(sipp -v 2>&1 | grep -m1 -o 'SIPp v[^ ]*'); $(kamailio -v 2>&1 | head -1)"

for target in $TARGETS; do
    case "$target" in
        kamailio)
            echo
            echo "kamailio: bench/kamailio/kamailio.cfg, children=$KAMAILIO_CHILDREN"
            start_kamailio rates "$WORK/users-$USERS.csv" 256
            if probe kamailio "$WORK/users-$USERS.sipp"; then
                rates kamailio "$WORK/users-$USERS.sipp"
            fi
            stop_server
            [[ "$MEMORY" == 1 ]] && memory kamailio
            ;;
        switchboard)
            prepare_switchboard
            if [[ -z "$SWITCHBOARD_READY" ]]; then
                echo
                echo "switchboard: not available: $SWITCHBOARD_WHY"
                FIRST_FAIL[switchboard]="not available ($SWITCHBOARD_WHY)"
                continue
            fi
            echo
            echo "switchboard $("$BIN" --version | awk '{print $2}'): RUST_LOG=$RUST_LOG, $ALGORITHMS_NOTE"
            start_switchboard rates "$WORK/users-$USERS.csv"
            if probe switchboard "$WORK/users-$USERS.sipp"; then
                rates switchboard "$WORK/users-$USERS.sipp"
                stop_server
                [[ "$MEMORY" == 1 ]] && memory switchboard
            else
                stop_server
                MEMORY_RESULT[switchboard]="not measured"
            fi
            ;;
        *)
            die "unknown target $target (kamailio, switchboard)"
            ;;
    esac
done

echo
echo "summary: REGISTER/401/REGISTER/200 per call, $USERS users, ${SECONDS_PER_RATE} s per rate, rates $RATES"
printf '  %-34s' ""
for target in $TARGETS; do printf '%-44s' "$target"; done
echo
printf '  %-34s' "highest rate with no failure"
for target in $TARGETS; do
    if [[ -n "${BEST[$target]-}" ]]; then
        printf '%-44s' "${BEST[$target]}/s (p99 ${BEST_P99[$target]} ms)"
    else
        printf '%-44s' "none"
    fi
done
echo
printf '  %-34s' "first rate not passing"
for target in $TARGETS; do printf '%-44s' "${FIRST_FAIL[$target]:--}"; done
echo
if [[ "$MEMORY" == 1 ]]; then
    for target in $TARGETS; do
        printf '  %-34s%s\n' "memory per binding, $target" "${MEMORY_RESULT[$target]:-not measured}"
    done
fi
