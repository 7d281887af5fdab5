# Throwaway PostgreSQL cluster for tests and benchmarks. Source this file, then call
# `pg_cluster_start`: it creates a cluster in a new temporary directory, starts it on a free
# 127.0.0.1 port (unix socket in the same directory), stops it and removes the directory on
# exit (trap), and exports
#
#   SWITCHBOARD_TEST_DATABASE_URL  postgres://postgres@127.0.0.1:PORT/postgres (trust auth)
#   SWITCHBOARD_TEST_PG_CTL        a script running pg_ctl on this cluster (e.g. `stop -m fast`,
#                                  `start`), as the right user; the outage test uses it
#
# initdb and pg_ctl refuse to run as root, so as root the cluster runs as the `postgres`
# user (runuser). Extra server settings can be passed in PG_CLUSTER_SETTINGS, e.g.
# PG_CLUSTER_SETTINGS="-c fsync=off".

pg_bin_dir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$dir" && -x "$dir/initdb" ]] || return 1
    printf '%s\n' "$dir"
}

pg_free_port() {
    local port i
    for i in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    return 1
}

pg_cluster_stop() {
    if [[ -n "${PG_CLUSTER_DIR:-}" && -d "$PG_CLUSTER_DIR" ]]; then
        "$PG_CLUSTER_DIR/pgctl" stop -m immediate >/dev/null 2>&1 || true
        rm -rf "$PG_CLUSTER_DIR"
    fi
}

pg_cluster_start() {
    local bin port as_user=() try
    bin=$(pg_bin_dir) || {
        echo "pg-cluster: no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install the Debian package 'postgresql')" >&2
        return 1
    }
    PG_CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-pg.XXXXXX")
    trap pg_cluster_stop EXIT
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || {
            echo "pg-cluster: running as root but there is no 'postgres' user to run the cluster as" >&2
            return 1
        }
        chown postgres "$PG_CLUSTER_DIR"
        as_user=(runuser -u postgres --)
    fi
    "${as_user[@]}" "$bin/initdb" -D "$PG_CLUSTER_DIR/data" -U postgres --auth=trust \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_CLUSTER_DIR/initdb.log" 2>&1 || {
        cat "$PG_CLUSTER_DIR/initdb.log" >&2
        return 1
    }
    for try in 1 2 3 4 5; do
        port=$(pg_free_port) || return 1
        cat >"$PG_CLUSTER_DIR/pgctl" <<SCRIPT
#!/bin/sh
# pg_ctl for the throwaway cluster in $PG_CLUSTER_DIR (port $port).
exec ${as_user[*]} "$bin/pg_ctl" -D "$PG_CLUSTER_DIR/data" -l "$PG_CLUSTER_DIR/server.log" -w -t 60 \\
    -o "-p $port -k $PG_CLUSTER_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_CLUSTER_SETTINGS:-}" "\$@"
SCRIPT
        chmod 755 "$PG_CLUSTER_DIR/pgctl"
        if "$PG_CLUSTER_DIR/pgctl" start >/dev/null; then
            export SWITCHBOARD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
            export SWITCHBOARD_TEST_PG_CTL="$PG_CLUSTER_DIR/pgctl"
            return 0
        fi
        tail -n 5 "$PG_CLUSTER_DIR/server.log" >&2 || true
    done
    echo "pg-cluster: could not start PostgreSQL (log: $PG_CLUSTER_DIR/server.log)" >&2
    return 1
}
