#!/usr/bin/env bash
# bench/kamailio/start.sh USERS.csv 127.0.0.1:PORT DIR [kamailio args...]
#
# Runs the comparison registrar (bench/kamailio/kamailio.cfg) in the foreground, listening on
# UDP 127.0.0.1:PORT only, with everything it writes under DIR (a scratch directory):
#
#   DIR/db/credentials, DIR/db/version  the db_text tables read once at start: username and
#                                       HA1 = md5(username:REALM:password) for every line of
#                                       USERS.csv (`username,password[,group]`, the format of
#                                       `switchboard endpoint import`; a header line is skipped)
#   DIR/run/                            Kamailio's runtime directory (-Y)
#   DIR/ctl.sock                        the binrpc control socket: kamcmd -s unix:DIR/ctl.sock
#
# Kamailio replaces this shell (exec), so the caller's $! is Kamailio's main process: send it
# SIGTERM to stop Kamailio and its workers. Extra arguments go to kamailio, e.g.
# `-A MIN_EXPIRES=2` (every -A name is listed at the top of kamailio.cfg) or `-m 512` (shared
# memory, MB). Environment: REALM (default switchboard), KAMAILIO_SHM_MB (default 256),
# KAMAILIO_PKG_MB (default 16).
set -euo pipefail

if [[ $# -lt 3 ]]; then
    echo "usage: $0 USERS.csv 127.0.0.1:PORT DIR [kamailio args...]" >&2
    exit 2
fi
USERS="$1" LISTEN="$2" DIR="$3"
shift 3
HERE="$(cd "$(dirname "$0")" && pwd)"
REALM="${REALM:-switchboard}"

for tool in kamailio python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench/kamailio/start.sh: $tool not found (Debian: apt-get install -y ${tool/kamailio/kamailio})" >&2
        exit 1
    fi
done
case "$LISTEN" in
    127.0.0.1:[0-9]*) ;;
    *)
        echo "bench/kamailio/start.sh: listen on 127.0.0.1:PORT only, not '$LISTEN'" >&2
        exit 2
        ;;
esac
[[ -r "$USERS" ]] || {
    echo "bench/kamailio/start.sh: cannot read $USERS" >&2
    exit 1
}

mkdir -p "$DIR/db" "$DIR/run"
DIR="$(cd "$DIR" && pwd)"
python3 - "$USERS" "$REALM" "$DIR/db" <<'PY'
import csv
import hashlib
import os
import sys

users, realm, db = sys.argv[1:4]
n = 0
with open(users, newline="") as f, open(os.path.join(db, "credentials"), "w") as out:
    out.write("username(str) ha1(str)\n")
    for i, row in enumerate(csv.reader(f)):
        if not row or row[0].startswith("#"):
            continue
        if i == 0 and row[0].strip().lower() == "username":
            continue
        user, password = row[0].strip(), row[1]
        if any(c in user for c in ":\\\n\r\t"):
            sys.exit(f"bench/kamailio/start.sh: user name {user!r} has a character db_text would need escaped")
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        out.write(f"{user}:{ha1}\n")
        n += 1
with open(os.path.join(db, "version"), "w") as out:
    out.write("table_name(str) table_version(int)\ncredentials:1\n")
print(f"bench/kamailio/start.sh: {n} credentials for realm {realm} in {db}/credentials", file=sys.stderr)
PY

exec kamailio -DD -E -f "$HERE/kamailio.cfg" \
    -l "udp:$LISTEN" -Y "$DIR/run" -P "$DIR/run/kamailio.pid" \
    -m "${KAMAILIO_SHM_MB:-256}" -M "${KAMAILIO_PKG_MB:-16}" \
    -A "DB_URL=\"text://$DIR/db\"" -A "CTL_SOCKET=\"unix:$DIR/ctl.sock\"" \
    -A "REALM=\"$REALM\"" \
    "$@"
