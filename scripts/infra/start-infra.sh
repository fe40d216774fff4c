#!/usr/bin/env bash
# Start the test infrastructure of tramway-jupyter's Slurm-over-SSH backend (idempotent, as root):
#
#   * a real single-node Slurm cluster (munge + slurmctld + slurmd, Debian packages, no cgroups),
#   * an OpenSSH server on 127.0.0.1:$INFRA_SSH_PORT (2222) for user $INFRA_SSH_USER (hpcuser),
#     key-only, with a known_hosts file for strict host-key checking,
#   * the cluster-side Python environment (/opt/tramway-jobenv, made from Debian's /usr/bin/python3,
#     readable by hpcuser) with the worker's dependencies and tramway-jupyter from REPO (reinstalled
#     on every start so that it matches the source under test),
#   * an Apptainer-compatible stand-in runtime on bubblewrap (/opt/tramway-infra/bin/apptainer) and a
#     sandbox image directory holding its own Python (see scripts/infra/apptainer),
#   * cluster access as labs have it (scripts/infra/bastion.sh): a bastion sshd on 127.0.0.1:2223
#     (forwarding allowed), a delay proxy on 127.0.0.1:2232 (40 ms each way) and a passphrase key.
#
# Usage: bash scripts/infra/start-infra.sh [REPO]      (REPO defaults to this script's repository)
# Writes $INFRA_DIR/infra.env (INFRA_DIR defaults to REPO/.infra); `source` it before the tests.
# Knobs: INFRA_DIR, INFRA_SSH_PORT, INFRA_SSH_USER, INFRA_JOBENV, INFRA_OPT, INFRA_OVERSUBSCRIBE=NO,
#        INFRA_SKIP_CONTAINER=1, INFRA_SKIP_JOBENV=1, INFRA_BASTION_PORT, INFRA_DELAY_PORT, INFRA_DELAY_MS.
set -euo pipefail
umask 022
T0=$(date +%s.%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=bastion.sh
source "$HERE/bastion.sh"

[[ $(id -u) == 0 ]] || die "start-infra.sh must run as root (it installs packages and starts daemons)"
REPO=$(cd "${1:-$HERE/../..}" && pwd)
[[ -f $REPO/pyproject.toml ]] || die "$REPO has no pyproject.toml: pass the tramway-jupyter repository"
export INFRA_DIR=${INFRA_DIR:-$REPO/.infra}
mkdir -p "$INFRA_DIR"
INFRA_DIR=$(cd "$INFRA_DIR" && pwd)
infra_paths
JOBENV=${INFRA_JOBENV:-/opt/tramway-jobenv}
OPT=${INFRA_OPT:-/opt/tramway-infra}
NODE=$(hostname -s)

# ---------------------------------------------------------------------------------------------
# 1. packages
PKGS=(slurmctld slurmd slurm-client munge openssh-server openssh-client python3-venv bubblewrap
      squashfuse fuse3 libpam-google-authenticator)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then   # never let postinst start daemons (sshd on :22...)
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    ok=0
    for attempt in 1 2 3; do
        if ((attempt > 1)) || [[ -z $(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock) ]]; then
            apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null || true
        fi
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=120 "${missing[@]}" </dev/null >"$INFRA_DIR/apt.log" 2>&1; then
            ok=1; break
        fi
        log "apt-get install failed (attempt $attempt), see $INFRA_DIR/apt.log"
        sleep 3
    done
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    ((ok)) || die "could not install ${missing[*]} (see $INFRA_DIR/apt.log)"
fi

# ---------------------------------------------------------------------------------------------
# 2. host name, user, directories, keys
if ! getent hosts "$NODE" >/dev/null; then
    echo "127.0.0.1 $NODE" >>/etc/hosts
fi
if ! id "$SSH_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$SSH_USER"
    log "created user $SSH_USER"
fi
usermod -p '*' "$SSH_USER"   # '!' (locked) makes sshd refuse even key auth with UsePAM no
UHOME=$(getent passwd "$SSH_USER" | cut -d: -f6)
UGROUP=$(id -gn "$SSH_USER")
chmod 755 "$UHOME"
install -d -o "$SSH_USER" -g "$UGROUP" -m 755 "$UHOME/scratch"
install -d -m 755 "$INFRA_DIR"/{etc/ssh,keys,state,state/slurmd,state/run}
install -d -o slurm -g slurm -m 755 "$INFRA_DIR/state/slurmctld" "$LOGD"
touch "$LOGD/jobcomp.txt"; chown slurm:slurm "$LOGD/jobcomp.txt"; chmod 666 "$LOGD/jobcomp.txt"

HOSTKEY=$INFRA_DIR/etc/ssh/ssh_host_ed25519_key
USERKEY=$INFRA_DIR/keys/${SSH_USER}_ed25519
[[ -f $HOSTKEY ]] || ssh-keygen -q -t ed25519 -N '' -C infra-host -f "$HOSTKEY"
[[ -f $USERKEY ]] || ssh-keygen -q -t ed25519 -N '' -C "$SSH_USER@infra" -f "$USERKEY"
install -d -o "$SSH_USER" -g "$UGROUP" -m 700 "$UHOME/.ssh"
# append, never replace: other checkouts' testbeds (CI, other worktrees) log in as the same user
AUTHKEYS=$UHOME/.ssh/authorized_keys
install -o "$SSH_USER" -g "$UGROUP" -m 600 /dev/null "$AUTHKEYS.new"
[[ -f $AUTHKEYS ]] && cat "$AUTHKEYS" >"$AUTHKEYS.new"
grep -qxF "$(cat "$USERKEY.pub")" "$AUTHKEYS.new" || cat "$USERKEY.pub" >>"$AUTHKEYS.new"
mv "$AUTHKEYS.new" "$AUTHKEYS"
HK=$(cut -d' ' -f1,2 "$HOSTKEY.pub")
# the cluster's key also under the delay proxy's address (the proxy leads to this sshd)
printf '[127.0.0.1]:%s %s\n[localhost]:%s %s\n[127.0.0.1]:%s %s\n' "$SSH_PORT" "$HK" "$SSH_PORT" "$HK" \
    "$DELAY_PORT" "$HK" >"$INFRA_DIR/keys/known_hosts"
HOSTKEY_SHA256=$(ssh-keygen -l -E sha256 -f "$HOSTKEY.pub" | awk '{print $2}')

# ---------------------------------------------------------------------------------------------
# 3. munge
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom bs=1024 count=1 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if pidfile_alive /run/munge/munged.pid munged; then
    log "munged already running ($(cat /run/munge/munged.pid))"
else
    runuser -u munge -- /usr/sbin/munged --force
    wait_pidfile /run/munge/munged.pid munged 10 || die "munged did not start (/var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$RUN/munged.pid"   # only a munged we started is ours to stop
    log "started munged ($(cat /run/munge/munged.pid))"
fi
munge -n | unmunge >/dev/null || die "munge round trip failed"

# ---------------------------------------------------------------------------------------------
# 4. slurm.conf (installed to the compiled-in default path so that sbatch over plain SSH finds it)
read -r CPUS BOARDS SOCKETS CORES THREADS MEM < <(slurmd -C | head -1 | sed -E \
    's/.*CPUs=([0-9]+) Boards=([0-9]+) SocketsPerBoard=([0-9]+) CoresPerSocket=([0-9]+) ThreadsPerCore=([0-9]+) RealMemory=([0-9]+).*/\1 \2 \3 \4 \5 \6/')
MEM=$((MEM * 9 / 10))
if [[ ${INFRA_OVERSUBSCRIBE:-FORCE:4} == NO ]]; then OVERSUB=NO; else OVERSUB=FORCE:4; fi
cat >"$INFRA_DIR/etc/slurm.conf" <<SLURMCONF
# Generated by tramway-jupyter scripts/infra/start-infra.sh - single-node test cluster on loopback
ClusterName=testcluster
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$INFRA_DIR/state/slurmctld
SlurmdSpoolDir=$INFRA_DIR/state/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGD/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1,default_queue_depth=1000
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=300
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MaxArraySize=1001
DependencyParameters=kill_invalid_depend
ReturnToService=2
SlurmdTimeout=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=$OVERSUB
SLURMCONF
mkdir -p /etc/slurm
SLURM_CHANGED=0
if ! cmp -s "$INFRA_DIR/etc/slurm.conf" /etc/slurm/slurm.conf; then
    install -m 644 "$INFRA_DIR/etc/slurm.conf" /etc/slurm/slurm.conf
    SLURM_CHANGED=1
    log "installed /etc/slurm/slurm.conf"
fi
if ((SLURM_CHANGED)); then
    stop_pidfile "$RUN/slurmd.pid" slurmd 15
    stop_pidfile "$RUN/slurmctld.pid" slurmctld 15
fi
if pidfile_alive "$RUN/slurmctld.pid" slurmctld; then
    log "slurmctld already running ($(cat "$RUN/slurmctld.pid"))"
else
    /usr/sbin/slurmctld
    wait_pidfile "$RUN/slurmctld.pid" slurmctld 20 || die "slurmctld did not start, see $LOGD/slurmctld.log"
    log "started slurmctld ($(cat "$RUN/slurmctld.pid"))"
fi
if pidfile_alive "$RUN/slurmd.pid" slurmd; then
    log "slurmd already running ($(cat "$RUN/slurmd.pid"))"
else
    /usr/sbin/slurmd
    wait_pidfile "$RUN/slurmd.pid" slurmd 20 || die "slurmd did not start, see $LOGD/slurmd.log"
    log "started slurmd ($(cat "$RUN/slurmd.pid"))"
fi
# wait until this slurmd has registered and the node accepts jobs
ready=0
for ((i = 0; i < 600; i++)); do
    node=$(scontrol show node "$NODE" -o 2>/dev/null || true)
    state=$(sed -nE 's/.* State=([A-Z+_]+).*/\1/p' <<<"$node")
    if [[ $node == *SlurmdStartTime=[0-9]* ]] && [[ $state =~ ^(IDLE|MIXED|ALLOCATED) ]]; then
        ready=1; break
    fi
    if [[ $state =~ (DOWN|DRAIN) ]] && ((i % 20 == 10)); then
        scontrol update nodename="$NODE" state=resume 2>/dev/null || true
    fi
    sleep 0.1
done
((ready)) || die "node $NODE not ready: ${state:-unknown} (see $LOGD/slurmd.log, $LOGD/slurmctld.log)"

# ---------------------------------------------------------------------------------------------
# 5. sshd on loopback for hpcuser
cat >"$SSHD_CONFIG.new" <<SSHDCONF
# Generated by tramway-jupyter scripts/infra/start-infra.sh - private sshd for tests: loopback only, key-only auth
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $HOSTKEY
PidFile $RUN/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $SSH_USER
UsePAM no
StrictModes yes
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
MaxStartups 100:30:200
MaxSessions 64
LoginGraceTime 30
LogLevel VERBOSE
Subsystem sftp internal-sftp
SSHDCONF
if ! cmp -s "$SSHD_CONFIG.new" "$SSHD_CONFIG"; then
    mv "$SSHD_CONFIG.new" "$SSHD_CONFIG"
    stop_sshd
else
    rm -f "$SSHD_CONFIG.new"
fi
start_sshd

# ---------------------------------------------------------------------------------------------
# 6. the cluster-side Python environment (readable by hpcuser; Debian's python, not pyenv's)
WORKER_DEPS=(numpy scipy pandas matplotlib nbformat nbclient jupyter_client ipykernel papermill roifile
             msgspec tomli hatchling hatch-nodejs-version)
if [[ ${INFRA_SKIP_JOBENV:-0} != 1 ]]; then
    STAMP=$JOBENV/.tramway-deps
    if [[ ! -x $JOBENV/bin/python || $(cat "$STAMP" 2>/dev/null) != "${WORKER_DEPS[*]}" ]]; then
        log "creating $JOBENV (worker dependencies from PyPI; ~1 min the first time)"
        [[ -x $JOBENV/bin/python ]] || /usr/bin/python3 -m venv "$JOBENV"
        "$JOBENV/bin/pip" install -q --disable-pip-version-check "${WORKER_DEPS[@]}" </dev/null \
            2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
        "$JOBENV/bin/python" -c "import numpy, scipy, pandas, nbclient, papermill, ipykernel, msgspec" \
            || die "worker dependencies missing in $JOBENV"
        "$JOBENV/bin/python" -m ipykernel install --prefix "$JOBENV" --name python3 >/dev/null
        echo "${WORKER_DEPS[*]}" >"$STAMP"
    fi
    # tramway-jupyter itself, from the source under test, every time (no JavaScript build). It is
    # built from a copy holding only what the wheel needs (no node_modules to scan; a placeholder
    # README if the checkout has none yet, since hatchling refuses to build without it).
    SRC=$(mktemp -d /tmp/tramway-jobenv-src.XXXXXX)
    cp -a "$REPO/pyproject.toml" "$REPO/tramway_jupyter" "$SRC/"
    mkdir -p "$SRC/labextension"  # its package.json holds the version (hatch-nodejs-version)
    cp -a "$REPO/labextension/package.json" "$SRC/labextension/"
    for f in README.md LICENSE; do
        if [[ -e $REPO/$f ]]; then cp -a "$REPO/$f" "$SRC/"; else echo "tramway-jupyter" >"$SRC/$f"; fi
    done
    find "$SRC" -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true
    HATCH_BUILD_NO_HOOKS=true "$JOBENV/bin/pip" install -q --disable-pip-version-check \
        --no-deps --no-build-isolation --force-reinstall "$SRC" </dev/null \
        >"$INFRA_DIR/jobenv-install.log" 2>&1 \
        || die "pip install of $REPO into $JOBENV failed, see $INFRA_DIR/jobenv-install.log"
    rm -rf "$SRC"
    chmod -R a+rX "$JOBENV"
    JOBENV_VERSION=$(runuser -u "$SSH_USER" -- "$JOBENV/bin/python" -c \
        'import tramway_jupyter, importlib.metadata as m; print(m.version("tramway-jupyter"))') \
        || die "$SSH_USER cannot import tramway_jupyter with $JOBENV/bin/python"
    log "job environment $JOBENV ready (tramway-jupyter $JOBENV_VERSION)"
fi

# ---------------------------------------------------------------------------------------------
# 7. container stand-in: Apptainer-compatible shim on bubblewrap + a sandbox image directory
IMAGE=$OPT/containers/tramway-jupyter.sandbox
if [[ ${INFRA_SKIP_CONTAINER:-0} != 1 ]]; then
    install -d -m 755 "$OPT/bin" "$OPT/containers"
    install -m 755 "$HERE/apptainer" "$OPT/bin/apptainer"
    ln -sfn apptainer "$OPT/bin/singularity"
    bash "$HERE/build-image.sh" "$IMAGE" "$JOBENV"
fi

# ---------------------------------------------------------------------------------------------
# 8. end-to-end check with OpenSSH's client (strict host key checking), then infra.env
SSH=(ssh -i "$USERKEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
     -o UserKnownHostsFile="$INFRA_DIR/keys/known_hosts" -o ConnectTimeout=10 -p "$SSH_PORT"
     "$SSH_USER@127.0.0.1")
for ((i = 0; i < 50; i++)); do
    if out=$("${SSH[@]}" sinfo -h -o %T 2>&1); then break; fi
    sleep 0.2
done
[[ $out =~ ^(idle|mixed|allocated) ]] || die "ssh $SSH_USER@127.0.0.1:$SSH_PORT sinfo failed: $out"

# ---------------------------------------------------------------------------------------------
# 9. bastion, delay proxy, passphrase key (scripts/infra/bastion.sh; writes bastion.env)
start_bastion "$USERKEY"

cat >"$INFRA_DIR/infra.env.new" <<INFRAENV
# source me: connection facts of the test infrastructure (written by scripts/infra/start-infra.sh)
export INFRA_DIR=$INFRA_DIR
export INFRA_REPO=$REPO
export INFRA_SSH_HOST=127.0.0.1
export INFRA_SSH_PORT=$SSH_PORT
export INFRA_SSH_USER=$SSH_USER
export INFRA_SSH_KEY=$USERKEY
export INFRA_SSH_KNOWN_HOSTS=$INFRA_DIR/keys/known_hosts
export INFRA_SSH_HOSTKEY_SHA256=$HOSTKEY_SHA256
export INFRA_SSHD_CTL=$HERE/sshd-ctl.sh
export INFRA_REMOTE_HOME=$UHOME
export INFRA_REMOTE_SCRATCH=$UHOME/scratch
export INFRA_REMOTE_PYTHON=$JOBENV/bin/python
export INFRA_SLURM_CONF=/etc/slurm/slurm.conf
export INFRA_SLURM_PARTITION=debug
export INFRA_SLURM_NODE=$NODE
export INFRA_SLURM_JOBCOMP=$LOGD/jobcomp.txt
export INFRA_SLURM_ACCOUNTING=none
export INFRA_CONTAINER_RUNTIME=$OPT/bin/apptainer
export INFRA_CONTAINER_IMAGE=$IMAGE
export INFRA_CONTAINER_PYTHON=/opt/venv/bin/python
INFRAENV
cat "$INFRA_DIR/bastion.env" >>"$INFRA_DIR/infra.env.new"
mv "$INFRA_DIR/infra.env.new" "$INFRA_DIR/infra.env"
# the second-factor sshd (key + one-time code) on 2226; adds its INFRA_2FA_* lines to infra.env
bash "$HERE/tj2fa.sh" start
log "ready in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s: source $INFRA_DIR/infra.env"
