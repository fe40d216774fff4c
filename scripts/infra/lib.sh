# shellcheck shell=bash
# Helpers shared by start-infra.sh, stop-infra.sh and sshd-ctl.sh (sourced, not executed).
#
# Daemons are tracked by PID files only (never pkill): a PID counts as "ours and alive" when
# /proc/PID exists, its state letter is not Z (PID 1 here reaps zombies only every ~2 s) and its
# comm is the expected program name.

log() { printf '[infra %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# pid_alive PID COMM -> 0 when PID is a live (non-zombie) process named COMM
pid_alive() {
    local pid=$1 comm=$2 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    state=${state%% *}
    [[ $state != Z && $state != X ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]
}

# pidfile_alive FILE COMM -> 0 when FILE names a live process named COMM
pidfile_alive() {
    local f=$1 comm=$2
    [[ -s $f ]] || return 1
    pid_alive "$(tr -dc 0-9 <"$f")" "$comm"
}

# wait_pidfile FILE COMM SECONDS: daemons write their PID file a moment after forking
wait_pidfile() {
    local f=$1 comm=$2 t=$3 i
    for ((i = 0; i < t * 20; i++)); do
        pidfile_alive "$f" "$comm" && return 0
        sleep 0.05
    done
    return 1
}

# stop_pidfile FILE COMM [GRACE]: SIGTERM, then SIGKILL after GRACE seconds; removes FILE
stop_pidfile() {
    local f=$1 comm=$2 grace=${3:-30} pid i
    if ! [[ -s $f ]]; then return 0; fi
    pid=$(tr -dc 0-9 <"$f")
    if pid_alive "$pid" "$comm"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < grace * 20; i++)); do
            pid_alive "$pid" "$comm" || break
            sleep 0.05
        done
        if pid_alive "$pid" "$comm"; then
            log "$comm ($pid) ignored SIGTERM for ${grace}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do pid_alive "$pid" "$comm" || break; sleep 0.05; done
        fi
        log "stopped $comm ($pid)"
    fi
    rm -f "$f"
}

# Paths every script agrees on (INFRA_DIR must be set by the caller).
infra_paths() {
    : "${INFRA_DIR:?INFRA_DIR not set}"
    RUN=$INFRA_DIR/state/run
    LOGD=$INFRA_DIR/state/log
    SSH_PORT=${INFRA_SSH_PORT:-2222}
    SSH_USER=${INFRA_SSH_USER:-hpcuser}
    SSHD_CONFIG=$INFRA_DIR/etc/ssh/sshd_config
}

start_sshd() {
    infra_paths
    if pidfile_alive "$RUN/sshd.pid" sshd; then
        log "sshd already running ($(cat "$RUN/sshd.pid"))"
        return 0
    fi
    install -d -m 755 /run/sshd
    /usr/sbin/sshd -t -f "$SSHD_CONFIG" || die "sshd -t rejected $SSHD_CONFIG"
    /usr/sbin/sshd -f "$SSHD_CONFIG" -E "$LOGD/sshd.log"
    wait_pidfile "$RUN/sshd.pid" sshd 10 || die "sshd did not start, see $LOGD/sshd.log"
    wait_port 127.0.0.1 "$SSH_PORT" 10 || die "sshd not listening on 127.0.0.1:$SSH_PORT"
    log "started sshd ($(cat "$RUN/sshd.pid")) on 127.0.0.1:$SSH_PORT"
}

stop_sshd() {
    infra_paths
    stop_pidfile "$RUN/sshd.pid" sshd 10
}

# wait_port HOST PORT SECONDS
wait_port() {
    local h=$1 p=$2 t=$3 i
    for ((i = 0; i < t * 20; i++)); do
        if (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}
