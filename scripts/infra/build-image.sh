#!/usr/bin/env bash
# Build the sandbox image used with the apptainer stand-in: build-image.sh IMAGE_DIR JOBENV
#
# Why not debootstrap: it takes ~100 s on this kind of machine. The image is instead a
# directory made of HARD LINKS (cp -al, ~3 s, no extra disk space) to this host's /usr, a minimal
# /etc, and the job environment copied to /opt/venv (a path that does not exist on the host, so a
# worker that reports sys.executable == /opt/venv/bin/python provably ran inside the image). Inside
# the sandbox nothing else of the host is visible (no /work, /root, /opt/tramway-jobenv...).
# /usr is linked once; the venv is relinked on every start so it holds the tramway-jupyter under test.
set -euo pipefail
IMAGE=${1:?usage: build-image.sh IMAGE_DIR JOBENV}
JOBENV=${2:?usage: build-image.sh IMAGE_DIR JOBENV}
if [[ ! -d $IMAGE/usr ]]; then
    rm -rf "$IMAGE.tmp"
    mkdir -p "$IMAGE.tmp"
    cp -al /usr "$IMAGE.tmp/usr"
    rm -rf "$IMAGE.tmp/usr/local"; mkdir -p "$IMAGE.tmp/usr/local/bin"
    for l in bin lib lib64 sbin; do [[ -L /$l ]] && ln -s "$(readlink /$l)" "$IMAGE.tmp/$l"; done
    mkdir -p "$IMAGE.tmp"/{etc,opt,home,tmp,proc,dev,sys,run,mnt,scratch,var/tmp,.singularity.d/env}
    for f in passwd group hosts nsswitch.conf ld.so.cache ld.so.conf os-release debian_version \
             localtime timezone host.conf mime.types; do
        [[ -e /etc/$f ]] && cp -aL "/etc/$f" "$IMAGE.tmp/etc/" 2>/dev/null || true
    done
    [[ -d /etc/ld.so.conf.d ]] && cp -a /etc/ld.so.conf.d "$IMAGE.tmp/etc/"
    [[ -d /etc/ssl ]] && cp -aL /etc/ssl "$IMAGE.tmp/etc/" 2>/dev/null || true
    printf '#!/bin/sh\nexec "$@"\n' >"$IMAGE.tmp/.singularity.d/runscript"
    chmod 755 "$IMAGE.tmp/.singularity.d/runscript"
    echo "tramway-jupyter worker sandbox image (apptainer stand-in); built $(date -u +%FT%TZ)" \
        >"$IMAGE.tmp/.tramway-container"
    rm -rf "$IMAGE"
    mv "$IMAGE.tmp" "$IMAGE"
fi
# the worker environment, relinked every time (pip replaces files, so hard links never go stale)
if [[ -x $JOBENV/bin/python ]]; then
    rm -rf "$IMAGE/opt/venv.new"
    cp -al "$JOBENV" "$IMAGE/opt/venv.new"
    # files that name the host path of the venv get a copy of their own (never edit the links)
    grep -rlF --include=kernel.json "$JOBENV" "$IMAGE/opt/venv.new/share" 2>/dev/null |
        while read -r f; do
            sed "s#$JOBENV#/opt/venv#g" "$f" >"$f.new" && mv -f "$f.new" "$f"
        done
    rm -rf "$IMAGE/opt/venv"
    mv "$IMAGE/opt/venv.new" "$IMAGE/opt/venv"
fi
chmod 755 "$IMAGE" "$IMAGE/opt"
