#!/usr/bin/env bash
# Makes a PostgreSQL server reachable on 127.0.0.1 with trust auth for local TCP connections and
# prints its URL (postgres://postgres@127.0.0.1:PORT/postgres) as the last line on stdout.
# Every other message goes to stderr. Idempotent: run it as often as you like.
#
#   1. a server already answers on 127.0.0.1:$PGPORT → use it;
#   2. else a cluster is installed (pg_lsclusters) → start it and wait until it is ready;
#   3. else install Debian's `postgresql`, start its cluster.
# In cases 2 and 3 (and in case 1 when `postgres` cannot log in over TCP and the cluster is local)
# it prepends `trust` rules for 127.0.0.1/32 and ::1/128 to pg_hba.conf, reloads, and makes sure
# the superuser roles `postgres` and `root` exist.
#
# Usage: scripts/pg-up.sh [--dry-run]
#   --dry-run  print the commands that would change the machine instead of running them
#              (set PG_UP_ASSUME_DOWN=1 as well to walk the start/install paths on a machine
#              whose server is running)
# Environment: PGPORT (default 5432), PG_UP_TIMEOUT seconds to wait for readiness (default 60).
set -euo pipefail

PORT="${PGPORT:-5432}"
HOST=127.0.0.1
TIMEOUT="${PG_UP_TIMEOUT:-60}"
DRY_RUN=0
ASSUME_DOWN="${PG_UP_ASSUME_DOWN:-0}"
HBA_MARK="# cutover scripts/pg-up.sh: trust local TCP connections"

for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
            exit 0
            ;;
        *)
            echo "pg-up: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

log() { echo "pg-up: $*" >&2; }

# Runs a command that changes the machine, or prints it under --dry-run.
run() {
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "pg-up: [dry-run] $*" >&2
    else
        "$@" >&2
    fi
}

# Runs a command as root (directly, or through sudo when available).
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        run "$@"
    elif command -v sudo >/dev/null; then
        run sudo -n "$@"
    else
        log "need root for: $* (run as root or install sudo)"
        exit 1
    fi
}

# Replaces the contents of a root-owned file with stdin, keeping its owner and mode.
write_root_file() {
    if [[ "$DRY_RUN" == 1 ]]; then
        echo "pg-up: [dry-run] write $1" >&2
        cat >/dev/null
    elif [[ "$(id -u)" == 0 ]]; then
        cat >"$1"
    else
        sudo -n tee "$1" >/dev/null
    fi
}

# Runs psql as the postgres OS user over the cluster's unix socket (peer auth).
psql_admin() {
    local port="$1"
    shift
    if [[ "$(id -u)" == 0 ]]; then
        run runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
    else
        run sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"
    fi
}

ready() {
    [[ "$ASSUME_DOWN" == 1 ]] && return 1
    pg_isready -q -h "$HOST" -p "$1" -t 2 >/dev/null 2>&1
}

can_login() {
    psql -X -q -h "$HOST" -p "$1" -U postgres -d postgres -w -c 'select 1' >/dev/null 2>&1
}

wait_ready() {
    local port="$1" waited=0
    [[ "$DRY_RUN" == 1 ]] && return 0
    until ready "$port"; do
        if ((waited >= TIMEOUT)); then
            log "server on $HOST:$port not ready after ${TIMEOUT}s"
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "ready on $HOST:$port after ${waited}s"
}

# Prints "VERSION CLUSTER PORT STATUS" of the cluster to use: the one on $PORT, else the first.
pick_cluster() {
    command -v pg_lsclusters >/dev/null || return 0
    local rows
    rows="$(pg_lsclusters -h 2>/dev/null | awk '{print $1, $2, $3, $4}')"
    [[ -n "$rows" ]] || return 0
    awk -v p="$PORT" '$3 == p {print; found=1; exit} END {}' <<<"$rows" | grep . ||
        head -n1 <<<"$rows"
}

start_cluster() {
    local ver="$1" name="$2"
    log "starting cluster $ver/$name"
    if [[ "$DRY_RUN" == 1 ]]; then
        run pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
        return
    fi
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start ||
        as_root pg_ctlcluster "$ver" "$name" start
}

install_postgres() {
    log "no PostgreSQL cluster found: installing Debian's postgresql"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
    if [[ "$DRY_RUN" == 0 && -z "$(pick_cluster)" ]]; then
        local ver
        ver="$(ls /usr/lib/postgresql | sort -n | tail -n1)"
        log "package created no cluster: creating $ver/main on port $PORT"
        as_root pg_createcluster --port "$PORT" "$ver" main
    fi
}

# Makes sure listen_addresses covers 127.0.0.1 (Debian's default, 'localhost', does); takes effect
# at the next start.
ensure_listen() {
    local ver="$1" name="$2" value
    value="$(pg_conftool -s "$ver" "$name" show listen_addresses 2>/dev/null || echo localhost)"
    if grep -Eq "(^|,) *(\*|localhost|127\.0\.0\.1|0\.0\.0\.0) *(,|$)" <<<"$value"; then
        return 0
    fi
    log "listen_addresses of $ver/$name is '$value': adding 127.0.0.1"
    local confd="/etc/postgresql/$ver/$name/conf.d"
    if [[ -d "$confd" ]]; then
        # conf.d is read after postgresql.conf, and this name sorts after the usual ones.
        echo "listen_addresses = '$value,127.0.0.1'" | write_root_file "$confd/zz-cutover-listen.conf"
    else
        as_root pg_conftool "$ver" "$name" set listen_addresses "$value,127.0.0.1"
    fi
    return 1
}

# Prepends the trust rules to pg_hba.conf (once), reloads, and ensures the roles.
configure() {
    local ver="$1" name="$2" port="$3" hba
    hba="/etc/postgresql/$ver/$name/pg_hba.conf"
    if [[ "$DRY_RUN" == 0 && ! -f "$hba" ]]; then
        hba="$(runuser -u postgres -- psql -X -A -t -p "$port" -d postgres -c 'show hba_file')"
    fi
    if [[ "$DRY_RUN" == 0 ]] && head -n1 "$hba" | grep -qxF "$HBA_MARK"; then
        log "$hba already trusts local TCP connections"
    else
        log "prepending trust rules for 127.0.0.1/32 and ::1/128 to $hba"
        if [[ "$DRY_RUN" == 0 ]]; then
            local v4="host all all 127.0.0.1/32 trust" v6="host all all ::1/128 trust" rest
            rest="$(grep -vxF -e "$HBA_MARK" -e "$v4" -e "$v6" "$hba" || true)"
            printf '%s\n%s\n%s\n%s\n' "$HBA_MARK" "$v4" "$v6" "$rest" | write_root_file "$hba"
        else
            run "prepend trust rules to $hba"
        fi
        psql_admin "$port" -c 'select pg_reload_conf()'
    fi
    local role
    for role in postgres root; do
        psql_admin "$port" -c "do \$\$ begin
            if not exists (select from pg_roles where rolname = '$role') then
                create role \"$role\";
            end if;
            alter role \"$role\" superuser login;
        end \$\$"
    done
}

url() {
    echo "postgres://postgres@$HOST:$1/postgres"
}

if ready "$PORT"; then
    log "server already accepting connections on $HOST:$PORT"
    if ! can_login "$PORT"; then
        read -r ver name cport _ <<<"$(pick_cluster)" || true
        if [[ -n "${ver:-}" && "${cport:-}" == "$PORT" ]]; then
            log "role postgres cannot log in over TCP: configuring local cluster $ver/$name"
            configure "$ver" "$name" "$PORT"
        else
            log "warning: role postgres cannot log in over TCP on $HOST:$PORT and no local cluster owns that port"
        fi
    fi
    url "$PORT"
    exit 0
fi

cluster="$(pick_cluster)"
if [[ -z "$cluster" ]]; then
    install_postgres
    cluster="$(pick_cluster)"
    if [[ -z "$cluster" && "$DRY_RUN" == 1 ]]; then
        cluster="VER main $PORT down"
    fi
    [[ -n "$cluster" ]] || {
        log "installed postgresql but pg_lsclusters lists no cluster"
        exit 1
    }
fi
read -r ver name cport status <<<"$cluster"
if [[ "$cport" != "$PORT" ]]; then
    log "cluster $ver/$name listens on port $cport, not $PORT: using $cport"
fi
if ready "$cport"; then
    log "cluster $ver/$name is up on $HOST:$cport"
elif [[ "$status" == online* && "$ASSUME_DOWN" != 1 ]]; then
    log "cluster $ver/$name is online but not answering on $HOST:$cport"
    if ! ensure_listen "$ver" "$name"; then
        log "restarting $ver/$name to listen on $HOST"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" restart ||
            as_root pg_ctlcluster "$ver" "$name" restart
    fi
else
    ensure_listen "$ver" "$name" || true
    start_cluster "$ver" "$name"
fi
wait_ready "$cport"
configure "$ver" "$name" "$cport"
if [[ "$DRY_RUN" == 0 ]] && ! can_login "$cport"; then
    log "server is up but postgres cannot log in over TCP on $HOST:$cport; check $ver/$name pg_hba.conf"
    exit 1
fi
url "$cport"
