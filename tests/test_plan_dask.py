"""`lwssim plan --dask-scheduler`: chunking, reassembly in run order, cancellation and bad input, on a real
in-process Dask cluster (``distributed.LocalCluster(processes=False)``: scheduler and two one-thread
workers in this process). The same against separate processes, with a worker killed: tests/e2e/test_dask.py.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lwssim.analysis.report import to_json
from lwssim.cli import cli
from lwssim.manifests.scenario import load_scenario
from lwssim.plan import PoolNodes, Targets, dask_runs, plan
from lwssim.plan import runs as R
from lwssim.plan.dask_runs import CHUNK_SECONDS, DaskRunner, chunk_size

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "deepseek-r1-dp-ep.yaml"  # 4 nodes fail availability at run 30; 5 and 6 meet
PLAN_ARGS = ["--pool", "h100", "--target-availability", "0.999", "--target-time-to-serving", "20m"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        yield cluster


@pytest.fixture
def client(cluster: distributed.LocalCluster) -> Iterator[distributed.Client]:
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


def test_chunk_size() -> None:
    assert chunk_size(None, 100, 2) == 1  # nothing measured yet
    assert chunk_size(CHUNK_SECONDS / 10, 100, 2) == 10  # by time
    assert chunk_size(CHUNK_SECONDS / 1000, 100, 2) == 25  # a quarter of the runs: 2 chunks per thread
    assert chunk_size(CHUNK_SECONDS * 3, 100, 2) == 1  # a run longer than a chunk
    assert chunk_size(1e-9, 3, 8) == 1


def test_results_in_run_order_from_chunks(client: distributed.Client) -> None:
    """Chunks of several runs, finishing in any order, come back as the local runs, in run order."""
    scenario = load_scenario(SCENARIO)
    runner = DaskRunner(client, scenario, PoolNodes("h100"))
    runner.seconds_per_run = CHUNK_SECONDS / 4  # chunks of 4 runs after each candidate's first run
    with distributed.get_task_stream(client) as stream:
        got = list(runner.results(5, 14))
    R.init_worker(scenario, PoolNodes("h100"))
    assert got == [R.run_task(5, run) for run in range(14)]
    ranges = sorted(tuple(int(x) for x in t["key"].split("-")[3:5]) for t in stream.data)
    assert ranges[0] == (0, 1) and len(ranges) < 14  # the first run alone, then chunks
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False)) and ranges[-1][1] == 14


def test_stopping_early_cancels_the_chunks_in_flight(
    cluster: distributed.LocalCluster, client: distributed.Client
) -> None:
    runner = DaskRunner(client, load_scenario(SCENARIO), PoolNodes("h100"))
    results = runner.results(5, 40)
    assert next(results).run == 0
    results.close()  # what the search does when a candidate is decided; Ctrl-C closes it the same way
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(k.startswith("lwssim-runs-") for k in cluster.scheduler.tasks):
        time.sleep(0.05)
    assert not [k for k in cluster.scheduler.tasks if k.startswith("lwssim-runs-")]


def test_plan_on_dask_is_the_local_plan(client: distributed.Client) -> None:
    """Same document with a candidate stopped early (4 nodes) and two complete ones."""
    scenario = load_scenario(SCENARIO)
    options = dict(targets=Targets(0.999, 20 * 60.0, 0.95), runs=40, beyond=1)
    local = plan(scenario, "h100", jobs=1, **options)
    remote = plan(scenario, "h100", open_runs=functools.partial(DaskRunner, client), **options)
    assert [c["runs"] for c in local["candidates"]] == [14, 40, 40]
    assert to_json(remote) == to_json(local)


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["plan", str(SCENARIO), *PLAN_ARGS, "--runs", "20", *args], env=env)


def test_cli_on_dask_prints_the_local_json(cluster: distributed.LocalCluster) -> None:
    local = invoke("--jobs", "1", "-o", "json")
    remote = invoke("-o", "json", env={"LWSSIM_DASK_SCHEDULER": cluster.scheduler_address})
    assert local.exit_code == remote.exit_code == 0
    assert remote.stdout == local.stdout
    assert "Dask scheduler inproc://" in remote.stderr and "2 worker threads" in remote.stderr


@pytest.mark.parametrize("address", ["nonsense::x", "tcp://127.0.0.1", "foo://host:8786"])
def test_malformed_address(address: str) -> None:
    result = invoke("--dask-scheduler", address)
    assert result.exit_code == 2 and result.stdout == ""
    expected = f"error: --dask-scheduler: {address!r} is not a scheduler address, e.g. tcp://host:8786 ("
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1


def test_unreachable_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(dask_runs, "CONNECT_TIMEOUT_SECONDS", 1.0)
    t0 = time.monotonic()
    result = invoke("--dask-scheduler", f"tcp://127.0.0.1:{port}")
    assert time.monotonic() - t0 < 8
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"error: --dask-scheduler: cannot reach a Dask scheduler at tcp://127.0.0.1:{port}"
    )
    assert result.stderr.count("\n") == 1


def test_without_dask_local_runs_work_and_the_option_says_what_to_install() -> None:
    """In a fresh interpreter where dask and distributed cannot be imported."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["dask"] = sys.modules["distributed"] = None  # import raises ImportError
        from click.testing import CliRunner
        from lwssim.cli import cli
        args = ["plan", {str(SCENARIO)!r}, "--pool", "h100", "--runs", "2", "--jobs", "1", "-o", "json"]
        local = CliRunner().invoke(cli, args)
        remote = CliRunner().invoke(cli, args + ["--dask-scheduler", "tcp://127.0.0.1:8786"])
        print(local.exit_code, remote.exit_code, repr(remote.stderr))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0 2 \"error: --dask-scheduler: needs Dask: pip install 'lwssim[dask]'\\n\""


def test_importing_lwssim_does_not_import_dask() -> None:
    code = (
        "import sys, lwssim, lwssim.cli, lwssim.plan, lwssim.plan.search, lwssim.plan.dask_runs;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
