"""SSH command costs: TCP_NODELAY against Nagle's algorithm, and the connection holder against a
direct connection.

    bash scripts/infra/start-infra.sh && source .infra/infra.env
    python benchmarks/bench_holder.py [--commands 50] [--mib 64] [--json out.json]

Three connections go to the testbed's loopback sshd with the same key, in the same run: a direct
:class:`~tramway_jupyter.backends.ssh.SSHConnection` with Nagle's algorithm on (``nodelay=False``,
the baseline: what paramiko does by default), the same with ``TCP_NODELAY`` (what every
connection does now), and a :class:`~tramway_jupyter.backends.holder.HeldConnection` (a profile
logged in with ``tramway-jupyter login``, or whose login asked a passphrase or a code). Measured:

* a short command (``true``): median and 90th percentile over ``--commands`` runs;
* a poll-sized answer (1,000 status lines, ~150 KB) and a gather-sized one (``--mib`` MiB of
  results in 16 files through ``get_tar``, which extracts the tar as it arrives): time, the peak
  of Python allocations here (``tracemalloc``) and the holder's peak resident memory; the
  baseline gathers the whole output first, then extracts it (what ``get_tar`` did before);
* the holder's start and login (once a day for a user);
* ``--clients`` processes at once (kernels, CLI runs), each running ``--per-client`` short
  commands: each with its own direct connection (and its own login) against all of them through
  the holder's one connection.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from tramway_jupyter.backends import holder, ssh
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.backends.tarstream import extract_tar, split_prefixed_output, tar_fetch_line


def _profile(use_holder: bool) -> Profile:
    e = os.environ
    try:
        return Profile(name="bench-holder", backend="slurm", host=e["INFRA_SSH_HOST"],
                       port=int(e["INFRA_SSH_PORT"]), user=e["INFRA_SSH_USER"],
                       identity_file=e["INFRA_SSH_KEY"], known_hosts=e["INFRA_SSH_KNOWN_HOSTS"],
                       holder=use_holder)
    except KeyError as exc:
        sys.exit(f"missing {exc}: run scripts/infra/start-infra.sh and source .infra/infra.env")


def _times(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _summary(ts: list[float]) -> dict[str, float]:
    ts = sorted(ts)
    return {"median_ms": 1e3 * statistics.median(ts), "p90_ms": 1e3 * ts[int(0.9 * (len(ts) - 1))]}


def _traced(fn) -> tuple[float, float]:
    """(seconds, peak MiB of Python allocations) of ``fn()``."""
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    return dt, peak


def _holder_rss_mib() -> float:
    st = holder.status()
    if not st:
        return float("nan")
    with open(f"/proc/{st['pid']}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(n_commands: int, mib: int) -> dict[str, dict[str, float]]:
    direct_prof, held_prof = _profile(False), _profile(True)
    nagle = ssh.SSHConnection(direct_prof.host, direct_prof.port, direct_prof.user,
                              direct_prof.identity_file, direct_prof.known_hosts, nodelay=False)
    t0 = time.perf_counter()
    nagle.check("true")
    connect_nagle = time.perf_counter() - t0
    direct = ssh.SSHConnection(direct_prof.host, direct_prof.port, direct_prof.user,
                               direct_prof.identity_file, direct_prof.known_hosts)
    t0 = time.perf_counter()
    direct.check("true")
    connect_direct = time.perf_counter() - t0
    t0 = time.perf_counter()
    holder.login(held_prof)
    login_held = time.perf_counter() - t0
    held = holder.HeldConnection(held_prof, prompter=None)
    held.check("true")

    remote = f"{os.environ['INFRA_REMOTE_SCRATCH']}/bench-holder-{os.getpid()}"
    direct.check(["mkdir", "-p", f"{remote}/results"])
    direct.check(["sh", "-c", f"for i in $(seq 1 16); do head -c {(mib << 20) // 16} /dev/urandom"
                  f" > {remote}/results/r$i.bin; done; "
                  f"seq 1 1000 | sed 's/.*/{{\"task_id\":\"t&\",\"state\":\"done\",\"attempt\":1,"
                  f"\"job_index\":&,\"t_end\":1764495000.123}}/' > {remote}/status.jsonl"])
    rows: dict[str, dict[str, float]] = {}
    try:
        firsts = {"nagle": connect_nagle, "direct": connect_direct, "holder": login_held}
        for name, conn in (("nagle", nagle), ("direct", direct), ("holder", held)):
            r = {"first_connection_s": firsts[name]}
            r.update({f"command_{k}": v for k, v in
                      _summary(_times(lambda c=conn: c.check("true"), n_commands)).items()})
            r.update({f"poll_{k}": v for k, v in _summary(_times(
                lambda c=conn: c.check(["cat", f"{remote}/status.jsonl"]), 10)).items()})
            with tempfile.TemporaryDirectory() as d:
                r["gather_s"], r["gather_peak_MiB"] = _traced(
                    lambda c=conn: c.get_tar(remote, Path(d) / "down", ["results"]))
                r["gather_MiB_per_s"] = mib / r["gather_s"]
                if name == "direct":  # the baseline: the whole output, then the extraction
                    def buffered(c: ssh.SSHConnection = conn) -> None:
                        _, out, _ = c.exec_bytes(tar_fetch_line(remote, ["results"], None))
                        extract_tar(split_prefixed_output(out)[2], Path(d) / "again")

                    r["buffered_gather_s"], r["buffered_gather_peak_MiB"] = _traced(buffered)
            rows[name] = r
        rows["holder"]["holder_peak_rss_MiB"] = _holder_rss_mib()
    finally:
        direct.run(["rm", "-rf", "--", remote])
        direct.close()
        nagle.close()
        holder.logout(held_prof)
    return rows


def _client(use_holder: bool, n: int) -> float:
    """One process's work: connect (or find the held login), then ``n`` short commands."""
    t0 = time.perf_counter()
    prof = _profile(use_holder)
    conn = (holder.HeldConnection(prof, prompter=None) if use_holder else
            ssh.SSHConnection(prof.host, prof.port, prof.user, prof.identity_file,
                              prof.known_hosts))
    for i in range(n):
        conn.check(["echo", str(i)])
    conn.close()
    return time.perf_counter() - t0


def run_clients(clients: int, per_client: int) -> dict[str, dict[str, float]]:
    """``clients`` processes at once, direct then through the holder (logged in once)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    holder.login(_profile(True))
    rows: dict[str, dict[str, float]] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(clients, mp_context=ctx) as pool:
        list(pool.map(time.sleep, [0.01] * clients))  # the processes started before timing
        for name, use in (("direct", False), ("holder", True)):
            t0 = time.perf_counter()
            each = list(pool.map(_client, [use] * clients, [per_client] * clients))
            wall = time.perf_counter() - t0
            rows[name] = {"wall_s": wall, "client_median_s": statistics.median(each),
                          "commands_per_s": clients * per_client / wall}
    st = holder.status() or {}
    rows["holder"]["holder_logins"] = float(sum(h["logins"] for h in st.get("held", [])))
    holder.logout(_profile(True))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=50)
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--per-client", type=int, default=25)
    p.add_argument("--json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["TRAMWAY_JUPYTER_HOME"] = home  # a holder of its own, stopped at the end
        try:
            rows = run(a.commands, a.mib)
            many = run_clients(a.clients, a.per_client)
        finally:
            holder.stop()
    keys = list(rows["direct"]) + [k for k in rows["holder"] if k not in rows["direct"]]
    nan = float("nan")

    def ratio(a: float, b: float) -> float:
        return a / b if b == b and b else nan

    print(f"{'':22}{'Nagle':>9}{'NODELAY':>9}{'holder':>9}  {'NODELAY/Nagle':>13}"
          f"  {'holder/NODELAY':>14}")
    for k in keys:
        nv, dv, hv = (rows[c].get(k, nan) for c in ("nagle", "direct", "holder"))
        print(f"{k:22}{nv:9.2f}{dv:9.2f}{hv:9.2f}  {ratio(dv, nv):13.2f}  {ratio(hv, dv):14.2f}")
    print(f"\n{a.clients} processes at once, {a.per_client} commands each:")
    print(f"{'':22}{'direct':>9}{'holder':>9}  {'holder/direct':>13}")
    for k in many["direct"]:
        dv, hv = many["direct"][k], many["holder"][k]
        print(f"{k:22}{dv:9.2f}{hv:9.2f}  {ratio(hv, dv):13.2f}")
    print(f"{'logins':22}{a.clients:9d}{int(many['holder']['holder_logins']):9d}")
    if a.json:
        Path(a.json).write_text(json.dumps({**rows, "clients": many}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
