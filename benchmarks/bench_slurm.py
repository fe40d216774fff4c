"""Slurm over SSH: submission, polling and gathering costs against the test cluster.

    bash scripts/infra/start-infra.sh && source .infra/infra.env
    python benchmarks/bench_slurm.py [--tasks 1000] [--repeat 3] [--json out.json] [--via-delay-proxy]

Measures, over the real SSH connection to the loopback sshd and the real single-node Slurm:

* submission of a 1,000-task stage (plan + templates + store + staging + one sbatch): the whole
  ``submit()`` call and the backend's part alone (jobs are submitted ``--hold`` so that none runs,
  then cancelled);
* one poll of that batch (the round trips it takes, its time with 1,000 fresh status files to bring
  back, and in steady state with none);
* gathering 1,000 task results (``results/*.pkl``, 4 KiB each): one incremental tar stream (what
  the backend does) against one SFTP ``get`` per file, in the same run;
* the quickstart pipeline end to end (2 files x 4 ROIs: submit, wait, results) and the first
  connection (handshake and authentication).

``--via-delay-proxy`` goes through the testbed's delay proxy (127.0.0.1:$INFRA_DELAY_PORT, 40 ms
each way: an 80 ms round trip, a laptop on a VPN) instead of straight to the sshd; the per-file
SFTP comparison is then skipped (``--sftp`` to force it: ~3 round trips per file).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tramway_jupyter.backends import ssh
from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.jobs.store import Store
from tramway_jupyter.orchestration.submit import submit

#: the sshd port the benchmark talks to (the delay proxy's with --via-delay-proxy)
PORT_VAR = "INFRA_SSH_PORT"


def infra_profile(scratch_leaf: str) -> Profile:
    try:
        e = os.environ
        return Profile(
            name="bench", backend="slurm", host=e["INFRA_SSH_HOST"], port=int(e[PORT_VAR]),
            user=e["INFRA_SSH_USER"], identity_file=e["INFRA_SSH_KEY"],
            known_hosts=e["INFRA_SSH_KNOWN_HOSTS"], python=e["INFRA_REMOTE_PYTHON"],
            scratch=f"{e['INFRA_REMOTE_SCRATCH']}/{scratch_leaf}", sbatch_options=["--hold"],
            walltime="00:05:00",
        )
    except KeyError as exc:
        sys.exit(f"missing {exc}: run scripts/infra/start-infra.sh and source .infra/infra.env")


PIPELINE = Pipeline.from_cells([
    ("setup", "import tramway_jupyter as tj"),
    ("stage measure --per file", "tj.record('n', len(open(source).read()))"),
])


def bench_submit(n: int, work: Path) -> dict[str, float]:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        p = data / f"f{i:04d}.txt"
        p.write_text(f"{i}\n")
        files.append(str(p))
    prof = infra_profile(f"bench-{os.getpid()}")
    store = Store(work / "store.sqlite")
    conn = ssh.get_connection(prof)
    conn.home_and_user()  # connect outside the timing (a session connects once)
    from tramway_jupyter.backends.slurm import SlurmBackend

    timing: dict[str, float] = {}
    orig = SlurmBackend.submit

    def timed(self, batch, jobs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        before = self.conn.round_trips
        try:
            return orig(self, batch, jobs)
        finally:
            timing["backend_submit_s"] = time.perf_counter() - t
            timing["submit_round_trips"] = self.conn.round_trips - before

    SlurmBackend.submit = timed  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        batch = submit(PIPELINE, files, profile=prof, store=store, tasks_per_job=1,
                       batches_root=work / "batches")
        timing["submit_total_s"] = time.perf_counter() - t0
    finally:
        SlurmBackend.submit = orig  # type: ignore[method-assign]
    jobs = batch.jobs()
    timing["jobs"] = len(jobs)
    timing["arrays"] = len({j.backend_id.split("_")[0] for j in jobs})
    # polls: first with n fresh status files on the cluster, then steady state
    rdir = batch.backend.remote_dir(batch.ctx)
    conn.check(["python3", "-c",
                "import json, os, sys, time\n"
                "d, n = sys.argv[1], int(sys.argv[2])\n"
                "for t in json.load(open(os.path.join(d, 'plan.json')))['tasks'][:n]:\n"
                "    p = os.path.join(d, 'status', t['task_id'] + '.json')\n"
                "    open(p, 'w').write(json.dumps({'state': 'running', 'attempt': 1,"
                " 'job_index': t['job_index'], 'started': time.time()}))\n",
                rdir, str(n)])
    polls = []
    rts = []
    for _ in range(4):
        before = conn.round_trips
        t = time.perf_counter()
        batch.refresh()
        polls.append(time.perf_counter() - t)
        rts.append(conn.round_trips - before)
    backend_polls = []
    for _ in range(3):
        t = time.perf_counter()
        batch.backend.poll(batch.ctx)
        backend_polls.append(time.perf_counter() - t)
    timing["backend_poll_steady_s"] = statistics.median(backend_polls)
    timing["poll_first_s"] = polls[0]
    timing["poll_steady_s"] = statistics.median(polls[1:])
    timing["poll_round_trips"] = max(rts)
    timing["running_after_poll"] = batch.counts().get("running", 0)
    t = time.perf_counter()
    batch.cancel()
    timing["cancel_s"] = time.perf_counter() - t
    batch.backend.cleanup(batch.ctx)
    return timing


def bench_connect(repeat: int) -> dict[str, float]:
    """A new connection (TCP, key exchange, host key, authentication) then one command."""
    prof = infra_profile("bench-connect")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        conn = ssh.SSHConnection(prof.host, prof.port, prof.user, prof.identity_file, prof.known_hosts)
        conn.check(["true"])
        times.append(time.perf_counter() - t)
        conn.close()
    cmd = []
    conn = ssh.get_connection(prof)
    conn.check(["true"])
    for _ in range(5):
        t = time.perf_counter()
        conn.check(["true"])
        cmd.append(time.perf_counter() - t)
    return {"connect_s": statistics.median(times), "command_s": statistics.median(cmd)}


def bench_quickstart(work: Path) -> dict[str, float]:
    """The quickstart pipeline (2 files x 4 ROIs, tessellate then infer) end to end."""
    from tramway_jupyter.analysis import write_simulation
    from tramway_jupyter.demo import demo_pipeline

    prof = infra_profile(f"bench-qs-{os.getpid()}").replace(sbatch_options=[], stage_data=True,
                                                             poll_interval_max=2.0)
    paths = write_simulation(work / "data", n_files=2, n_rois=4, seed=0)
    store = Store(work / "store.sqlite")
    conn = ssh.get_connection(prof)
    conn.home_and_user()
    before = conn.round_trips
    t0 = time.perf_counter()
    batch = submit(demo_pipeline(), [str(p) for p in paths], profile=prof, store=store,
                   batches_root=work / "batches")
    t1 = time.perf_counter()
    batch.wait(timeout=600)
    t2 = time.perf_counter()
    res = batch.results()
    t3 = time.perf_counter()
    assert res.ok, res
    out = {"submit_s": t1 - t0, "wait_s": t2 - t1, "results_s": t3 - t2, "total_s": t3 - t0,
           "round_trips": conn.round_trips - before, "tasks": len(res)}
    batch.backend.cleanup(batch.ctx)
    conn.check(["rm", "-rf", "--", conn.expand_path(prof.scratch)])
    return out


def bench_gather(n: int, work: Path, repeat: int, sftp_too: bool = True) -> dict[str, float]:
    prof = infra_profile(f"bench-gather-{os.getpid()}")
    conn = ssh.get_connection(prof)
    assert isinstance(conn, ssh.SSHConnection)
    scratch = conn.expand_path(prof.scratch)
    rdir = f"{scratch}/batch"
    conn.check(["python3", "-c",
                "import os, sys\n"
                "d = os.path.join(sys.argv[1], 'results'); os.makedirs(d, exist_ok=True)\n"
                "for i in range(int(sys.argv[2])):\n"
                "    open(os.path.join(d, f'task-{i:04d}.pkl'), 'wb').write(os.urandom(4096))\n",
                rdir, str(n)])
    tar_t, sftp_t = [], []
    for r in range(repeat):
        out = work / f"tar{r}"
        t = time.perf_counter()
        _, files = conn.get_tar(rdir, out, ["results"])
        tar_t.append(time.perf_counter() - t)
        assert len(files) == n, len(files)
        if not sftp_too:
            continue
        out = work / f"sftp{r}"
        (out / "results").mkdir(parents=True)
        t = time.perf_counter()
        sftp = conn.sftp()
        for name in sftp.listdir(f"{rdir}/results"):
            sftp.get(f"{rdir}/results/{name}", str(out / "results" / name))
        sftp.close()
        sftp_t.append(time.perf_counter() - t)
        assert len(os.listdir(out / "results")) == n
    # incremental: nothing changed since the previous stream
    stamp, _ = conn.get_tar(rdir, work / "inc", ["results"])
    t = time.perf_counter()
    _, again = conn.get_tar(rdir, work / "inc", ["results"], since=stamp + 3)
    inc = time.perf_counter() - t
    conn.check(["rm", "-rf", "--", scratch])
    tar = statistics.median(tar_t)
    sf = statistics.median(sftp_t) if sftp_t else float("nan")
    return {"files": n, "tar_stream_s": tar, "sftp_per_file_s": sf, "speedup": sf / tar,
            "incremental_nothing_new_s": inc, "incremental_files": len(again)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--workdir", default=os.environ.get("INFRA_DIR") or ".",
                    help="local scratch for the benchmark (default $INFRA_DIR); the local file"
                         " system's cost of creating 1,000 files is part of every gather")
    ap.add_argument("--via-delay-proxy", action="store_true",
                    help="through the testbed's delay proxy ($INFRA_DELAY_PORT: a WAN link)")
    ap.add_argument("--sftp", action="store_true",
                    help="compare with per-file SFTP even through the delay proxy")
    ap.add_argument("--no-quickstart", action="store_true", help="skip the quickstart pipeline")
    args = ap.parse_args()
    global PORT_VAR
    if args.via_delay_proxy:
        if "INFRA_DELAY_PORT" not in os.environ:
            sys.exit("no INFRA_DELAY_PORT: rerun scripts/infra/start-infra.sh, source .infra/infra.env")
        PORT_VAR = "INFRA_DELAY_PORT"
    link = (f"delay proxy :{os.environ[PORT_VAR]} ({os.environ.get('INFRA_DELAY_MS', '?')} ms each way)"
            if args.via_delay_proxy else f"direct :{os.environ.get(PORT_VAR)}")
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench-slurm-") as tmp:
        work = Path(tmp)
        con = bench_connect(args.repeat)
        sub = bench_submit(args.tasks, work / "submit")
        gat = bench_gather(args.tasks, work / "gather", args.repeat,
                           sftp_too=args.sftp or not args.via_delay_proxy)
        qs = None if args.no_quickstart else bench_quickstart(work / "quickstart")
    ssh.close_connections()
    res = {"link": link, "connect": con, "submit": sub, "gather": gat, "quickstart": qs,
           "load_avg": os.getloadavg()}
    print(f"link: {link}; new connection + `true` {con['connect_s']:.2f} s, one command"
          f" {con['command_s'] * 1000:.0f} ms")
    print(f"submission of {args.tasks} tasks ({sub['jobs']} jobs, {sub['arrays']} sbatch array):"
          f" submit() {sub['submit_total_s']:.2f} s, backend part {sub['backend_submit_s']:.2f} s"
          f" in {sub['submit_round_trips']} SSH round trip(s)")
    print(f"poll: {sub['poll_round_trips']} round trip; {sub['poll_first_s'] * 1000:.0f} ms with"
          f" {args.tasks} new status files, {sub['poll_steady_s'] * 1000:.0f} ms steady (of which"
          f" the backend's poll {sub['backend_poll_steady_s'] * 1000:.0f} ms, the rest is syncing"
          f" the store);"
          f" cancel {sub['cancel_s']:.2f} s")
    sftp = (f"SFTP per file {gat['sftp_per_file_s']:.2f} s -> {gat['speedup']:.1f}x"
            if gat["sftp_per_file_s"] == gat["sftp_per_file_s"] else "SFTP per file skipped")
    print(f"gather {gat['files']} results: tar stream {gat['tar_stream_s']:.2f} s, {sftp};"
          f" incremental with nothing new"
          f" {gat['incremental_nothing_new_s'] * 1000:.0f} ms ({gat['incremental_files']} files)")
    if qs:
        print(f"quickstart ({qs['tasks']} tasks) end to end {qs['total_s']:.1f} s: submit"
              f" {qs['submit_s']:.2f} s, wait {qs['wait_s']:.1f} s, results {qs['results_s']:.2f} s;"
              f" {qs['round_trips']} SSH commands")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
