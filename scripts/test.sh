#!/usr/bin/env bash
# The single test command for Switchboard: ./scripts/test.sh [cargo test args]
#
# 1. Installs the system tools the tests need (Debian/Ubuntu, via apt-get)
#    if they are missing; any failure to install is fatal, never skipped.
# 2. docker-compose config: docker-compose.yml is valid
# 3. cargo build --workspace --all-targets
# 4. starts a throwaway PostgreSQL cluster (scripts/pg-cluster.sh: temp dir, free port,
#    stopped on exit) and exports SWITCHBOARD_TEST_DATABASE_URL and SWITCHBOARD_TEST_PG_CTL
# 5. cargo test --workspace [args]: the store's tests run on SQLite and on that cluster
#
# Extra arguments are passed to `cargo test`, e.g.
#   ./scripts/test.sh -p sip
#   ./scripts/test.sh --test e2e_options
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf '\nscripts/test.sh: ERROR: %s\n\n' "$*" >&2
    exit 1
}

# --- Rust toolchain -----------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    die "cargo not found. Install Rust (https://rustup.rs) and make sure ~/.cargo/bin is on PATH."
fi

# --- System packages the tests need ------------------------------------------
# Each entry: "<executable> <Debian package>". Executables are looked up on
# PATH as files (type -P), so shell builtins such as `kill` do not count, and
# in /usr/sbin and /sbin (kamailio, ip) when PATH lacks them.
REQUIRED_TOOLS=(
    "sipp sip-tester" # SIPp drives the end-to-end SIP scenarios in tests/sipp/
    "kill procps"     # /bin/kill: the e2e harness stops the server with SIGTERM
    "docker-compose docker-compose" # validates docker-compose.yml (no Docker engine needed)
    "ip iproute2"          # network namespaces for baresip (tests/support/netns.rs)
    "baresip baresip"      # a real softphone (tests/support/baresip.rs)
    "kamailio kamailio"    # the reference registrar of tests/e2e_harness_peers.rs
)

have_tool() {
    type -P "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/sbin/$1" ]]
}

missing_pkgs=()
missing_tools=()
# PostgreSQL's server binaries live outside PATH, in /usr/lib/postgresql/<version>/bin.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing_tools+=("initdb")
    missing_pkgs+=("postgresql")
fi
for entry in "${REQUIRED_TOOLS[@]}"; do
    tool=${entry%% *}
    pkg=${entry##* }
    if ! have_tool "$tool"; then
        missing_tools+=("$tool")
        missing_pkgs+=("$pkg")
    fi
done

if ((${#missing_pkgs[@]} > 0)); then
    log "missing test tools: ${missing_tools[*]} -> installing Debian packages: ${missing_pkgs[*]}"
    install_hint="install the Debian package(s) '${missing_pkgs[*]}' (apt-get install -y ${missing_pkgs[*]}) and re-run"

    if ! command -v apt-get >/dev/null 2>&1; then
        die "apt-get not found (not a Debian/Ubuntu system?). The tests need: ${missing_tools[*]}; ${install_hint}, or install the equivalent packages for your OS."
    fi

    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            if [[ -t 0 ]]; then
                sudo_cmd=(sudo)
            else
                # No terminal (CI): never hang on a password prompt.
                sudo_cmd=(sudo -n)
            fi
        else
            die "not running as root and sudo is not available; as root, ${install_hint}."
        fi
    fi

    apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
    log "apt-get update"
    if ! ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get "${apt_opts[@]}" update; then
        die "'apt-get update' failed; cannot install ${missing_pkgs[*]}. Fix apt (network, sources, sudo rights), or ${install_hint}."
    fi
    log "apt-get install ${missing_pkgs[*]}"
    if ! ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get "${apt_opts[@]}" install --no-install-recommends "${missing_pkgs[@]}"; then
        die "'apt-get install ${missing_pkgs[*]}' failed. The tests cannot run without: ${missing_tools[*]}. ${install_hint^}."
    fi

    for tool in "${missing_tools[@]}"; do
        if [[ "$tool" == initdb ]]; then
            compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
                die "installed postgresql but there is no /usr/lib/postgresql/*/bin/initdb."
            continue
        fi
        have_tool "$tool" ||
            die "installed ${missing_pkgs[*]} but '$tool' is still not on PATH ($PATH)."
    done
fi

# `sipp -v` exits 99 by design; only its text matters here.
sipp_version=$(sipp -v 2>&1 </dev/null || true)
sipp_version=$(grep -m1 -o 'SIPp v[^ ]*' <<<"$sipp_version" || true)
log "using $(type -P sipp) (${sipp_version:-unknown version})"

# --- Deployment files ---------------------------------------------------------
log "docker-compose config (validates docker-compose.yml)"
docker-compose -f docker-compose.yml config -q

# --- Build and test ----------------------------------------------------------
log "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

# --- Throwaway PostgreSQL ------------------------------------------------------
# shellcheck source=scripts/pg-cluster.sh
source scripts/pg-cluster.sh
log "starting a throwaway PostgreSQL cluster"
pg_cluster_start || die "could not start a throwaway PostgreSQL cluster (see above)."
log "PostgreSQL for the tests: $SWITCHBOARD_TEST_DATABASE_URL"

log "cargo test --workspace $*"
cargo test --workspace "$@"

log "all tests passed"
