#!/usr/bin/env bash
# Start or stop throwaway MariaDB and PostgreSQL servers for the engine tests.
#
#   eval "$(.ci/services.sh start)"   # prints `export T2S_TEST_MARIADB_URL=...` / `..._POSTGRES_URL=...`
#   .ci/services.sh stop
#
# Both listen on 127.0.0.1 only, on fixed ports (T2S_MARIADB_PORT=53306, T2S_POSTGRES_PORT=55432), with
# data directories under $T2S_SERVICES_DIR (default /dev/shm/t2s-services, else $TMPDIR); `stop` kills them and removes the
# data. Start-up waits at most $T2S_SERVICES_TIMEOUT seconds (default 60). A server whose binaries are
# missing is reported on stderr and left out: the engine tests then fail in CI (CI=true) with a message
# saying how to install them, and skip locally. As root (CI containers), mariadbd runs with --user=root
# and PostgreSQL runs as the unprivileged user `nobody`, which owns its data directory.
set -uo pipefail

# tmpfs when there is one: creating and dropping a database per synthesized instance is disk-bound.
if [ -z "${T2S_SERVICES_DIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  DIR=/dev/shm/t2s-services
else
  DIR="${T2S_SERVICES_DIR:-${TMPDIR:-/tmp}/t2s-services}"
fi
MY_PORT="${T2S_MARIADB_PORT:-53306}"
PG_PORT="${T2S_POSTGRES_PORT:-55432}"
TIMEOUT="${T2S_SERVICES_TIMEOUT:-60}"
PG_BIN="${T2S_POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

say() { echo "services.sh: $*" >&2; }

wait_for() {  # wait_for NAME COMMAND...: poll until COMMAND succeeds or TIMEOUT passes
  local name="$1"; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then say "$name did not start within ${TIMEOUT}s"; return 1; fi
    sleep 0.3
  done
}

start_mariadb() {
  local mariadbd install
  mariadbd="$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null)"
  install="$(command -v mariadb-install-db || command -v mysql_install_db)"
  if [ -z "$mariadbd" ] || [ -z "$install" ]; then
    say "MariaDB not found: install it with 'apt-get install mariadb-server' (Debian/Ubuntu)"; return 0
  fi
  local d="$DIR/mariadb" user=()
  [ "$(id -u)" = 0 ] && user=(--user=root)
  if ! mysql_ping; then
    rm -rf "$d"; mkdir -p "$d"
    "$install" --no-defaults "${user[@]}" --datadir="$d/data" --auth-root-authentication-method=normal \
      --skip-test-db >"$d/install.log" 2>&1 || { say "mariadb-install-db failed, see $d/install.log"; return 0; }
    # Throwaway data: skip durability (fsync) so that creating and dropping databases is fast.
    nohup "$mariadbd" --no-defaults "${user[@]}" --datadir="$d/data" --bind-address=127.0.0.1 \
      --port="$MY_PORT" --socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" --skip-name-resolve \
      --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --sync-binlog=0 --innodb-buffer-pool-size=64M --innodb-file-per-table=0 \
      --log-error="$d/error.log" >/dev/null 2>&1 &
    wait_for MariaDB mysql_ping || { say "see $d/error.log"; return 0; }
  fi
  echo "export T2S_TEST_MARIADB_URL=mysql+pymysql://root@127.0.0.1:$MY_PORT/"
}

mysql_ping() {
  python3 - "$MY_PORT" <<'PY' 2>/dev/null
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
PY
}

start_postgres() {
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/postgres" ]; then
    say "PostgreSQL not found: install it with 'apt-get install postgresql' (Debian/Ubuntu)"; return 0
  fi
  local d="$DIR/postgres" run=()
  if [ "$(id -u)" = 0 ]; then run=(runuser -u nobody --); fi
  if ! "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; then
    rm -rf "$d"; mkdir -p "$d"
    [ "$(id -u)" = 0 ] && chown nobody "$d"
    (cd "$d" && "${run[@]}" "$PG_BIN/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$d/initdb.log" 2>&1) || { say "initdb failed, see $d/initdb.log"; return 0; }
    (cd "$d" && "${run[@]}" "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t "$TIMEOUT" \
      -o "-p $PG_PORT -k $d -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >"$d/pg_ctl.log" 2>&1) || { say "PostgreSQL did not start, see $d/server.log"; return 0; }
  fi
  echo "export T2S_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
}

stop_all() {
  local d="$DIR/mariadb"
  if [ -f "$d/mysqld.pid" ]; then
    local pid; pid="$(cat "$d/mysqld.pid")"
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
  fi
  d="$DIR/postgres"
  if [ -f "$d/data/postmaster.pid" ] && [ -n "$PG_BIN" ]; then
    local run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u nobody --)
    (cd "$d" && "${run[@]}" "$PG_BIN/pg_ctl" -D "$d/data" -m immediate -w -t 30 stop >/dev/null 2>&1)
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) mkdir -p "$DIR"; start_mariadb; start_postgres ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
