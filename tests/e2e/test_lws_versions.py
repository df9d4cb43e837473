"""Each LWS release's real controller against the simulator set to the same release (issue 16).

The v0.7.0 cases run on the session emulator; another release gets a stack of its own
(``lwssim emulator up --lws-version``), started on first use and stopped when this module ends. Each
scenario of scenarios/e2e runs on that stack and in the simulator with ``spec.controller.lwsVersion`` set
to the stack's release; they are compared as tests/e2e/test_agreement.py does (placement or pending pod
for pod, time to serving within 5%), and the LWS's own status (replicas, readyReplicas, updatedReplicas)
must end the same on both sides.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_helpers import LWS_GROUP, NS, lws_maker, running_stack
from test_agreement import MARGIN_S, _check, after, agree, held_for, run_observed

from lwssim import runner
from lwssim import timeline as tl
from lwssim.emulator import build
from lwssim.model.scenario import ControllerConfig, Scenario
from lwssim.timeline import Timeline

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "e2e"
# The releases .ci/run compares. LWSSIM_E2E_LWS_VERSIONS=v0.7.0,v0.8.0,v0.9.0 adds v0.8.0, whose
# controller is then built at first use.
VERSIONS = tuple(os.environ.get("LWSSIM_E2E_LWS_VERSIONS", "v0.7.0,v0.9.0").split(","))
FROM_V0_9 = tuple(v for v in VERSIONS if ControllerConfig(lws_version=v).version_tuple >= (0, 9, 0))
# Group readiness with the worker Pending, from each tag's pkg/utils/statefulset/statefulset_utils.go
# StatefulsetReady: status.replicas up to v0.8 (the group counts as ready), availableReplicas from v0.9.
READY_WITH_PENDING_WORKER = [(v, 0 if v in FROM_V0_9 else 1) for v in VERSIONS]


@pytest.fixture(scope="module")
def api_for(api: Any) -> Iterator[Callable[[str], Any]]:
    """The ApiClient of an emulator running the given LWS release: the session's for the default, else
    one started on first use and stopped (by PID) when this module ends."""
    clients: dict[str, Any] = {build.LWS_VERSION: api}
    with contextlib.ExitStack() as stacks:

        def get(version: str) -> Any:
            if version not in clients:
                clients[version] = stacks.enter_context(running_stack(version)).api_client()
            return clients[version]

        yield get


def versioned(path: Path, version: str, tmp_path: Path) -> Path:
    """The scenario file with ``spec.controller.lwsVersion`` set to ``version`` (the emulator's release)."""
    doc = yaml.safe_load(path.read_text())
    doc["spec"].setdefault("controller", {})["lwsVersion"] = version
    out = tmp_path / f"{path.stem}-{version}.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def patches(api: Any, scenario: Scenario) -> list[tuple[float, Callable[[], None]]]:
    """The scenario's ``events[].patch`` as merge patches of the live LWS, at the scenario's times."""
    from kubernetes import client

    co = client.CustomObjectsApi(api)

    def apply(event: Any) -> Callable[[], None]:
        body = {"spec": event.patch}
        return lambda: co.patch_namespaced_custom_object(
            LWS_GROUP, "v1", NS, "leaderworkersets", event.workload, body
        )

    return [(e.at, apply(e)) for e in scenario.patches]


def final_status(timeline: Timeline) -> tuple[object, object, object] | None:
    """The LWS's last reported (replicas, readyReplicas, updatedReplicas)."""
    last = [r for r in timeline.records if r.kind == tl.LWS_STATUS]
    if not last:
        return None
    r = max(last, key=lambda r: r.t)
    return r.get("replicas"), r.get("readyReplicas"), r.get("updatedReplicas")


def run_versioned(
    api_for: Callable[[str], Any],
    version: str,
    name: str,
    tmp_path: Path,
    stop_when: Callable[[Any], bool],
    t0_box: list[float] | None = None,
) -> tuple[Scenario, Timeline]:
    """Run scenarios/e2e/<name>.yaml on the emulator of ``version``, with its patches at their times."""
    api = api_for(version)
    path = versioned(SCENARIOS / f"{name}.yaml", version, tmp_path)
    scenario = runner.load(str(path))
    with lws_maker(api) as make_lws:
        return run_observed(
            api,
            make_lws,
            path,
            stop_when,
            timeout=150,
            at=patches(api, scenario),
            t0_box=t0_box,
            whole_second=True,
        )


def rolled_out(scenario: Scenario, updated: int) -> Callable[[Any], bool]:
    """Stop condition: past the last patch, every group serves and the LWS reports ``updated`` groups
    updated and all ready, held for MARGIN_S."""
    (workload,) = scenario.workloads
    replicas, last_patch = workload.lws.replicas, max(e.at for e in scenario.patches)
    want = (replicas, replicas, updated)

    def done(builder: Any) -> bool:
        late = builder.timeline.records and builder.timeline.records[-1].t > last_patch + 2.0
        return bool(late) and builder.all_serving() and builder.lws_status.get(workload.lws.name) == want

    return held_for(done, MARGIN_S)


def check_rollout(api_for: Any, version: str, name: str, tmp_path: Path, updated: int) -> None:
    scenario = runner.load(str(versioned(SCENARIOS / f"{name}.yaml", version, tmp_path)))
    scenario, observed = run_versioned(api_for, version, name, tmp_path, rolled_out(scenario, updated))
    doc = agree(scenario, observed, tmp_path)
    _, simulated = runner.run_with_timeline(scenario)
    replicas = scenario.workloads[0].lws.replicas
    assert final_status(observed) == final_status(simulated) == (replicas, replicas, updated)
    _check(doc)
    assert all(g["recreations"] == {"observed": 0, "simulated": 0} for g in doc["workloads"][0]["groups"])


@pytest.mark.parametrize("version", VERSIONS)
def test_rollout_with_max_surge_agrees(api_for: Any, version: str, tmp_path: Path) -> None:
    check_rollout(api_for, version, "rollout-max-surge", tmp_path, updated=3)


@pytest.mark.parametrize("version", FROM_V0_9)
def test_rollout_max_unavailable_zero_agrees(api_for: Any, version: str, tmp_path: Path) -> None:
    """maxUnavailable 0 with maxSurge 1 exists only from v0.9 (lws#776)."""
    check_rollout(api_for, version, "rollout-surge-no-unavailable", tmp_path, updated=3)


@pytest.mark.parametrize("version", VERSIONS)
def test_partition_rollout_agrees(api_for: Any, version: str, tmp_path: Path) -> None:
    check_rollout(api_for, version, "rollout-partition", tmp_path, updated=2)


@pytest.mark.parametrize(("version", "ready"), READY_WITH_PENDING_WORKER)
def test_group_with_a_worker_that_cannot_start(
    api_for: Any, version: str, ready: int, tmp_path: Path
) -> None:
    """lws#705: the worker stays Pending while the leader is Ready. Up to v0.8 the group counts as ready
    (its worker StatefulSet's status.replicas), from v0.9 it does not (availableReplicas); the simulator,
    set to the same release, must report what the controller reports."""
    t0: list[float] = [0.0]
    scenario, observed = run_versioned(
        api_for, version, "worker-cannot-start", tmp_path, after(20.0, t0), t0_box=t0
    )
    doc = agree(scenario, observed, tmp_path)
    _check(doc)
    pods = {p["name"]: p for p in doc["workloads"][0]["pods"]}
    assert pods["e2e-nostart-0-1"]["observed"]["state"] == "pending"
    assert all(p["reasonMatch"] for p in pods.values())
    _, simulated = runner.run_with_timeline(scenario)
    assert final_status(observed) == final_status(simulated) == (1, ready, 1)
