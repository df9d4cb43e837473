"""Live progress of ``apply --observe`` on stderr (rich): groups serving per workload, pods by state."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live

from lwssim.timeline import WorkloadInfo


class Progress:
    """A one-line-per-workload display, refreshed at most twice a second; silent without a terminal."""

    def __init__(self, workloads: list[WorkloadInfo]) -> None:
        self.workloads = workloads
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=2, transient=False)
        self.start = time.monotonic()

    def __enter__(self) -> Progress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, builder: Any, _now: float) -> None:
        serving = builder.serving()
        pods = [p for p in builder.pods.values() if not p.gone]
        ready = sum(1 for p in pods if p.ready)
        lines = [f"{w.name}: {serving.get(w.name, 0)}/{w.replicas} groups serving" for w in self.workloads]
        lines.append(f"pods {len(pods)} seen, {ready} Ready; {time.monotonic() - self.start:.0f}s")
        self.live.update("\n".join(lines))
