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

Tests of another LWS release (tests/e2e/test_lws_versions.py) start a second stack with
``running_stack(version)`` for their module only, so the race-sensitive tests after them run beside one
idle stack, not two.

Each test creates its LeaderWorkerSets through ``make_lws`` and they are deleted (and their pods
waited away) after the test, so tests do not compete for GPUs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import lws_maker, running_stack

from lwssim.emulator import build
from lwssim.emulator.stack import Stack


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
    """The running emulator (LWS v0.7.0) for the whole session."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    _reap_orphans()
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def api(emulator: Stack) -> Any:
    """A kubernetes ApiClient with admin rights on the emulator."""
    return emulator.api_client()


@pytest.fixture
def make_lws(api: Any) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Create LeaderWorkerSets on the session emulator; deleted (pods waited away) after the test."""
    with lws_maker(api) as create:
        yield create
