"""Benchmark: `lwssim plan` with local worker processes against 1- and 2-worker local Dask clusters.

Both through the CLI, alternately, on a bundled scenario; the Dask clusters are LocalClusters of two
one-thread worker processes and of one (for the parallel efficiency), started once (as a standing
cluster would be) and not timed. Checks that every plan's JSON is byte-identical.
Needs `pip install 'lwssim[dask]'`.

    python benchmarks/bench_plan_dask.py [--rounds 3] [--runs 60]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from distributed import LocalCluster

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "fleet-year-random-failures.yaml"
LWSSIM = [sys.executable, "-c", "from lwssim.cli import main; main()"]


def timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([*LWSSIM, *args], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    plan = ["plan", str(SCENARIO), "--pool", "h100", "--min", "32", "--max", "33", "--runs", str(args.runs)]
    plan += ["-o", "json"]
    ways = {"local, --jobs 1": ["--jobs", "1"], "local, --jobs 2": ["--jobs", "2"]}
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as one,
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
    ):
        ways["Dask, 1 worker"] = ["--dask-scheduler", one.scheduler_address]
        ways["Dask, 2 workers"] = ["--dask-scheduler", cluster.scheduler_address]
        times: dict[str, list[float]] = {way: [] for way in ways}
        outputs = set()
        for _ in range(args.rounds):
            for way, extra in ways.items():
                seconds, out = timed(plan + extra)
                times[way].append(seconds)
                outputs.add(out)
    print(f"{SCENARIO.name}: 32..33 nodes, {args.runs} runs each; {args.rounds} rounds, alternately")
    for way, ts in times.items():
        print(f"  {way}: median {statistics.median(ts):.1f} s ({min(ts):.1f}-{max(ts):.1f})")
    one, two = (statistics.median(times[f"Dask, {n}"]) for n in ("1 worker", "2 workers"))
    print(f"Dask parallel efficiency, 2 workers against 1: {one / (2 * two):.0%} (speed-up {one / two:.2f})")
    print(f"JSON identical across all: {len(outputs) == 1}")
    return 0 if len(outputs) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
