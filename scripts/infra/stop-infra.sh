#!/usr/bin/env bash
# Stop what start-infra.sh started, by PID file (never pkill): cancels the test user's remaining
# Slurm jobs (unless INFRA_KEEP_JOBS=1), then stops the delay proxy, the bastion sshd, sshd,
# slurmd, slurmctld and munged (munged
# only if start-infra.sh started it). SSH sessions already open (sshd children) are not touched.
#   bash scripts/infra/stop-infra.sh [REPO]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=bastion.sh
source "$HERE/bastion.sh"
[[ $(id -u) == 0 ]] || die "stop-infra.sh must run as root"
REPO=$(cd "${1:-$HERE/../..}" && pwd)
export INFRA_DIR=${INFRA_DIR:-$REPO/.infra}
[[ -d $INFRA_DIR ]] || { log "nothing to stop ($INFRA_DIR does not exist)"; exit 0; }
infra_paths
if [[ ${INFRA_KEEP_JOBS:-0} != 1 ]] && pidfile_alive "$RUN/slurmctld.pid" slurmctld; then
    if id "$SSH_USER" >/dev/null 2>&1; then
        timeout 20 scancel --user="$SSH_USER" 2>/dev/null || true
    fi
fi
stop_bastion
stop_pidfile "$RUN/sshd.pid" sshd 10
bash "$HERE/tj2fa.sh" stop
stop_pidfile "$RUN/slurmd.pid" slurmd 30
stop_pidfile "$RUN/slurmctld.pid" slurmctld 30
if [[ -s $RUN/munged.pid ]]; then
    stop_pidfile "$RUN/munged.pid" munged 10
    rm -f /run/munge/munged.pid
fi
log "infrastructure stopped"
