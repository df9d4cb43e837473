"""End-to-end tests against the emulated cluster (``pytest -m e2e``; deselected by default).

One emulator serves the whole session: the ``emulator`` fixture brings up etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok and the LWS v0.7.0 controller on 127.0.0.1 with four
fake GPU nodes (8 ``nvidia.com/gpu`` each, two racks of two under ``example.com/rack``), in a state
folder of its own so a user's ``lwssim emulator up`` is never touched.  Its finalizer stops every
process by PID at the end of the session, also when a test fails; SIGTERM/SIGHUP are turned into
KeyboardInterrupt and an ``atexit`` hook covers an interpreter that exits without finalizers.

The first run on a machine builds the binaries (30-60 min on 2 cores; ``.ci/emulator-deps.sh`` does
it ahead of time); later runs start the stack in well under a minute.  Without ``go`` and without
prebuilt binaries the tests are skipped, not failed.

Each test creates its LeaderWorkerSets through ``make_lws`` and they are deleted (and their pods
waited away) after the test, so tests do not compete for GPUs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import LWS_GROUP, NS, RACK, wait_for

from lwssim.emulator import build
from lwssim.emulator.nodes import NodeSpec
from lwssim.emulator.stack import Options, Stack


def _skip_reason() -> str | None:
    try:
        if build.is_built():
            return None
    except build.BuildError:
        pass
    if shutil.which("go") is None:
        return "emulator binaries are not built and `go` is missing"
    return None


def _reap_orphans() -> None:
    """Stop stacks left by an e2e session that was killed outright (SIGKILL skips finalizers)."""
    for d in build.cache_root().glob("emulator-e2e-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            Stack(d).down()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Stack]:
    """The running emulator for the whole session; stopped (by PID) whatever happens."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    _reap_orphans()
    state = build.cache_root() / f"emulator-e2e-{os.getpid()}"
    stack = Stack(state)
    opts = Options(node_spec=NodeSpec(count=4, gpus_per_node=8, topology={RACK: 2}), timeout_s=240)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    atexit.register(stack.down)
    try:
        t0 = time.monotonic()
        stack.up(opts)
        print(f"\nemulator up in {time.monotonic() - t0:.1f}s: {stack.kubeconfig}")
        yield stack
    finally:
        stack.down()
        atexit.unregister(stack.down)
        for s, h in old.items():
            signal.signal(s, h)


@pytest.fixture(scope="session")
def api(emulator: Stack) -> Any:
    """A kubernetes ApiClient with admin rights on the emulator."""
    return emulator.api_client()


@pytest.fixture
def make_lws(api: Any) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Create LeaderWorkerSets; delete them and wait their pods away after the test."""
    from kubernetes import client

    co = client.CustomObjectsApi(api)
    v1 = client.CoreV1Api(api)
    made: list[str] = []

    def create(body: dict[str, Any]) -> dict[str, Any]:
        made.append(body["metadata"]["name"])
        return co.create_namespaced_custom_object(LWS_GROUP, "v1", NS, "leaderworkersets", body)

    yield create
    for name in made:
        with contextlib.suppress(client.ApiException):
            co.delete_namespaced_custom_object(
                LWS_GROUP, "v1", NS, "leaderworkersets", name, propagation_policy="Foreground"
            )
    for name in made:
        sel = f"leaderworkerset.sigs.k8s.io/name={name}"
        wait_for(
            f"pods of {name} gone",
            lambda sel=sel: not v1.list_namespaced_pod(NS, label_selector=sel).items,
            timeout=90,
        )
