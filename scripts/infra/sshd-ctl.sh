#!/usr/bin/env bash
# Stop, start or restart the test sshd only (used by the "sshd restarted mid-batch" test):
#   sshd-ctl.sh stop|start|restart [--kill-sessions] [--down SECONDS]
# (needs INFRA_DIR, e.g. after `source .infra/infra.env`). --kill-sessions also ends the open SSH
# sessions of this sshd (its child processes, found by parent PID), as a server reboot or a network
# drop would; --down keeps the server down that long before starting it again.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
INFRA_DIR=${INFRA_DIR:-$(cd "$HERE/../.." && pwd)/.infra}
infra_paths
action=${1:-}; shift || true
kill_sessions=0 down=0
while (($#)); do
    case $1 in
        --kill-sessions) kill_sessions=1; shift ;;
        --down) down=$2; shift 2 ;;
        *) die "unknown option $1" ;;
    esac
done
sessions() {  # child processes of the listening sshd = one per open connection
    local parent pid stat rest
    parent=$(tr -dc 0-9 <"$RUN/sshd.pid" 2>/dev/null) || return 0
    [[ -n $parent ]] || return 0
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}; pid=${pid%/stat}
        rest=$(cat "$stat" 2>/dev/null) || continue
        rest=${rest##*) }
        read -r _ ppid _ <<<"$rest"
        [[ $ppid == "$parent" ]] && echo "$pid"
    done
}
case $action in
    stop|restart)
        victims=()
        ((kill_sessions)) && mapfile -t victims < <(sessions)
        stop_sshd
        for pid in "${victims[@]}"; do
            pid_alive "$pid" sshd && kill -TERM "$pid" 2>/dev/null && log "ended ssh session $pid"
        done
        if [[ $action == restart ]]; then sleep "$down"; start_sshd; fi ;;
    start) start_sshd ;;
    *) die "usage: sshd-ctl.sh stop|start|restart [--kill-sessions] [--down SECONDS]" ;;
esac
