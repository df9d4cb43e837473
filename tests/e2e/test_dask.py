"""`lwssim plan --dask-scheduler` on a real Dask cluster of separate processes, one worker killed mid-run.

A ``dask scheduler`` and two ``dask worker --no-nanny --nthreads 1`` processes on 127.0.0.1 (ports chosen by
the OS, the address read from the scheduler file), stopped by PID in the fixture's teardown whatever
happens. Needs no emulator (the ``emulator`` fixture is not requested): only ``pip install 'lwssim[dask]'``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
# A year of random failures on 64 nodes: ~0.2 s a run, so chunks hold several runs and take about a second.
PLAN = [
    "plan",
    str(ROOT / "scenarios" / "fleet-year-random-failures.yaml"),
    "--pool",
    "h100",
    "--min",
    "32",
    "--max",
    "32",
    "--beyond",
    "0",
    "--runs",
    "24",
    "-o",
    "json",
]
LWSSIM = [sys.executable, "-c", "from lwssim.cli import main; main()"]
DASK = [sys.executable, "-m", "dask"]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, subprocess.Popen]]]:
    """(scheduler address, {worker name: its process}); every process is stopped after the test."""
    procs: list[subprocess.Popen] = []
    workers: dict[str, subprocess.Popen] = {}
    file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as log:
            p = subprocess.Popen([*DASK, *args], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        procs.append(p)
        return p

    try:
        scheduler = start(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
            "--scheduler-file", str(file),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not file.exists() and scheduler.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert file.exists(), (logs / "scheduler.log").read_text()
        address = json.loads(file.read_text())["address"]
        for name in ("w1", "w2"):
            workers[name] = start(
                name, "worker", address, "--name", name, "--no-nanny", "--nthreads", "1",
                "--host", "127.0.0.1", "--no-dashboard",
            )  # fmt: skip
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        stop(procs)


def chunk_on(client: distributed.Client, worker: str, timeout: float = 60) -> str:
    """The key of a chunk of at least 3 runs that ``worker`` has just been given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for key in client.processing(workers=[worker]).get(worker, ()):
            start, stop = (int(x) for x in key.split("-")[3:5])
            if key.startswith("lwssim-runs-") and stop - start >= 3:
                return key
        time.sleep(0.01)
    raise AssertionError(f"no chunk of 3 runs or more reached {worker} within {timeout} s")


@pytest.mark.e2e
def test_plan_on_dask_with_a_worker_killed_is_the_local_plan(
    dask_cluster: tuple[str, dict[str, subprocess.Popen]],
) -> None:
    """The JSON is byte-identical to a local run's; the chunk the killed worker was running is run again
    on the other worker (it reaches memory only after the kill)."""
    address, workers = dask_cluster
    local = subprocess.run([*LWSSIM, *PLAN, "--jobs", "2"], capture_output=True, text=True, timeout=180)
    assert local.returncode == 0, local.stderr
    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        victim = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "w1")
        plan = subprocess.Popen(
            [*LWSSIM, *PLAN, "--dask-scheduler", address],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            key = chunk_on(client, victim)
            killed_at = time.time()
            workers["w1"].kill()
            workers["w1"].wait(timeout=10)
            out, err = plan.communicate(timeout=180)
        finally:
            if plan.poll() is None:
                plan.kill()
                plan.wait()
        story = client.story(key)
    assert plan.returncode == 0, err
    assert out == local.stdout
    assert "2 worker threads" in err
    # Scheduler entries: ("scheduler", key, from state, to state, recommendations, stimulus, time).
    moves = [(e[2], e[3], e[-1]) for e in story if e[0] == "scheduler"]
    assert any(a == "processing" and b == "released" and t >= killed_at for a, b, t in moves), moves
    assert [t for _, b, t in moves if b == "memory"] and all(
        t > killed_at for _, b, t in moves if b == "memory"
    )
