"""Monte Carlo runs on a Dask distributed cluster (``lwssim plan --dask-scheduler ADDRESS``).

What is sent: the scenario (a few KB pickled) and a range of run indices, per task (runs.run_chunk); what
comes back: the runs' RunResults and the seconds they took. A run's seed derives from the scenario seed and
its index alone (runs.py), so a run gives the same result on any worker, and results are handed to the
search in run order, never completion order: the plan is byte-identical to a local one, with any number of
workers. Workers need the same lwssim installed (checked at connect, by version).

This module is imported only when ``--dask-scheduler`` is given: ``distributed`` is an optional extra.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lwssim.errors import InputError
from lwssim.model.scenario import Scenario
from lwssim.plan import runs as R
from lwssim.plan.dimension import Dimension

if TYPE_CHECKING:
    from distributed import Client, Future

OPTION = "--dask-scheduler"
CONNECT_TIMEOUT_SECONDS = 10.0  # an unreachable scheduler is an error after this long, not a hang
CHUNK_SECONDS = 2.0  # aimed compute time of one chunk: Dask's ~1 ms per task is then noise
# Task retries: a worker that dies is handled by the scheduler itself (its tasks are rescheduled, up to
# distributed.scheduler.allowed-failures); these cover an exception raised on a worker (out of memory, a
# worker being shut down mid-task).
RETRIES = 2


def chunk_size(seconds_per_run: float | None, total: int, threads: int) -> int:
    """Runs in the next chunk: enough for about CHUNK_SECONDS of work, by the time per run the chunks so
    far measured on their workers (1 before any was measured), but no more than total / (2 × threads), so
    a candidate's runs still spread over every worker thread."""
    if seconds_per_run is None:
        return 1
    by_time = int(CHUNK_SECONDS / max(seconds_per_run, 1e-6))
    return max(1, min(by_time, math.ceil(total / (2 * max(threads, 1)))))


class DaskRunner:
    """A candidate's runs computed as chunks of run indices on a Dask cluster, yielded in run order.

    Each candidate's first chunk is one run, so a failure that one run proves (placement) is seen as soon
    as locally; later chunks are sized by ``chunk_size``. At most 2 × threads chunks are in flight; when
    the search stops a candidate early (or on Ctrl-C) the rest are cancelled.
    """

    def __init__(self, client: Client, scenario: Scenario, dimension: Dimension) -> None:
        self.client = client
        self.scenario = scenario
        self.dimension = dimension
        self.seconds_per_run: float | None = None  # measured by the latest chunk, kept across candidates
        self.token = uuid.uuid4().hex[:8]

    def results(self, size: int, total: int, lever: str | None = None) -> Iterator[R.RunResult]:
        from distributed import as_completed

        threads = max(1, sum(self.client.nthreads().values()))
        window = 2 * threads
        starts: dict[Future, int] = {}  # in flight: future → first run of its chunk
        finished: dict[int, list[R.RunResult]] = {}  # done, not yet yielded: first run → results
        queued = 0  # runs submitted
        futures = as_completed(loop=self.client.loop)

        def fill() -> None:
            nonlocal queued
            while queued < total and len(starts) < window:
                runs = 1 if queued == 0 else chunk_size(self.seconds_per_run, total, threads)
                stop = min(total, queued + runs)
                future = self.client.submit(
                    R.run_chunk,
                    self.scenario,
                    self.dimension,
                    size,
                    queued,
                    stop,
                    lever,
                    key=f"lwssim-runs-{size}-{queued}-{stop}-{self.token}" + (f"-{lever}" if lever else ""),
                    retries=RETRIES,
                )
                starts[future] = queued
                futures.add(future)
                queued = stop

        try:
            fill()
            yielded = 0
            for future in futures:
                start = starts.pop(future)
                chunk, seconds = future.result()
                self.seconds_per_run = seconds / len(chunk)
                finished[start] = chunk
                fill()
                while yielded in finished:
                    chunk = finished.pop(yielded)
                    yielded += len(chunk)
                    yield from chunk
        finally:
            if starts:
                self.client.cancel(list(starts))

    def close(self) -> None:
        """Nothing to end: each candidate's generator cancels its own chunks; the client is the caller's."""


@contextlib.contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address``, closed on exit; bad input (exit 2) when Dask is not
    installed, the address is malformed, the scheduler does not answer within CONNECT_TIMEOUT_SECONDS, or
    a worker runs another lwssim version."""
    try:
        from distributed import Client
        from distributed.comm import get_address_host_port
    except ImportError:
        raise InputError("", OPTION, "needs Dask: pip install 'lwssim[dask]'") from None
    try:
        if not address.startswith("inproc://"):
            get_address_host_port(address)
    except ValueError as exc:
        raise InputError(
            "", OPTION, f"{address!r} is not a scheduler address, e.g. tcp://host:8786 ({exc})"
        ) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
    except (OSError, ValueError) as exc:
        raise InputError("", OPTION, f"cannot reach a Dask scheduler at {address}: {exc}") from None
    try:
        _check_versions(client)
        yield client
    finally:
        client.close()


def _check_versions(client: Client) -> None:
    """Workers run the task functions of their own lwssim: one of another version is refused up front.
    Workers that join later are not checked (an adaptive cluster starts them when tasks arrive)."""
    versions = client.get_versions(packages=["lwssim"])
    ours = versions["client"]["packages"]["lwssim"]
    for address, info in sorted(versions["workers"].items()):
        theirs = (info or {}).get("packages", {}).get("lwssim")
        if theirs != ours:
            raise InputError(
                "",
                OPTION,
                f"worker {address} has lwssim {theirs or 'not installed'}, this is {ours}: "
                "install the same lwssim on the workers",
            )
