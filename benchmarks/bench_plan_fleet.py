"""Benchmark: `lwssim plan` for the 2,000-node year of failures, on 2 local cores and on 2 Dask workers.

The scenario is `bench_failures.py`'s (2,000 nodes x 8 GPUs, 250 groups of 8 pods, a year of Llama 3-rate
node failures, rack failures and container crashes). Both ways go through the CLI with the same targets;
the Dask cluster is a LocalCluster of two one-thread worker processes, started once (as a standing cluster
would be) and not timed. Prints each wall time, the answer, and whether the two JSON plans are
byte-identical. Target (issue 15): under 10 minutes. Needs `pip install 'lwssim[dask]'`.

    python benchmarks/bench_plan_fleet.py [--availability 0.998] [--time-to-serving 30m] [--runs 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_failures import scenario_doc
from distributed import LocalCluster

LWSSIM = [sys.executable, "-c", "from lwssim.cli import main; main()"]


def timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([*LWSSIM, *args], capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: no count meets the targets, still a plan
        sys.exit(f"lwssim plan failed (exit {done.returncode}):\n{done.stderr}")
    return time.perf_counter() - t0, done.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--availability", default="0.998")
    ap.add_argument("--time-to-serving", default="30m")
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "fleet-2000-year.yaml"
        scenario.write_text(yaml.safe_dump(scenario_doc(2000, 250, 8, 365)))
        plan = ["plan", str(scenario), "--pool", "h100", "--runs", str(args.runs), "-o", "json"]
        plan += ["--target-availability", args.availability, "--target-time-to-serving", args.time_to_serving]
        local_s, local = timed([*plan, "--jobs", "2"])
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
            dask_s, remote = timed([*plan, "--dask-scheduler", cluster.scheduler_address])
    result = json.loads(local)
    runs = sum(c.get("runs", 0) for c in result.get("candidates", []))
    runs += sum(lever.get("runs", 0) for lever in result.get("levers", []))
    targets = f"availability {args.availability}, time to serving {args.time_to_serving}"
    print(f"2,000 nodes, a year; targets {targets}")
    print(f"  local, --jobs 2: {local_s:.0f} s")
    print(f"  Dask, 2 workers: {dask_s:.0f} s")
    print(f"  answer: {result['recommendedCount']} nodes ({result.get('bindingConstraint')}); runs: {runs}")
    for lever in result.get("levers", []):
        print(f"  lever {lever['lever']}: {lever['effect']}")
    print(f"  JSON identical: {local == remote}")
    return 0 if local == remote else 1


if __name__ == "__main__":
    sys.exit(main())
