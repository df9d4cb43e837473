"""snapshot, preflight and apply --observe against the emulator (shared session stack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_helpers import lws_manifest, pods_of, wait_for

from lwssim.analysis.report import build_report
from lwssim.emulator.stack import Stack
from lwssim.manifests.scenario import load_scenario
from lwssim.timeline import Timeline

pytestmark = pytest.mark.e2e


def _lwssim(stack: Stack, *args: str, timeout: float = 55) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from lwssim.cli import main; main()",
            *args,
            "--kubeconfig",
            str(stack.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _failed(out: str) -> set[str]:
    return {c["name"] for c in json.loads(out)["checks"] if c["status"] == "fail"}


def test_snapshot_round_trips_into_a_scenario(emulator: Stack, tmp_path: Path) -> None:
    snap = tmp_path / "nodes.yaml"
    r = _lwssim(emulator, "snapshot", "-o", str(snap))
    assert r.returncode == 0, r.stderr
    assert _lwssim(emulator, "snapshot", "-o", str(snap)).returncode == 2  # never overwritten
    (tmp_path / "lws.yaml").write_text(yaml.safe_dump(lws_manifest("snap", replicas=2, size=2, gpus=8)))
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "lwssim.io/v1alpha1",
                "kind": "Scenario",
                "metadata": {"name": "snap"},
                "spec": {
                    "cluster": {"nodes": "nodes.yaml"},
                    "workloads": [{"file": "lws.yaml"}],
                    "horizon": "1h",
                },
            }
        )
    )
    loaded = load_scenario(scenario)
    assert sorted(n.name for n in loaded.cluster.nodes) == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    assert all(dict(n.allocatable)["nvidia.com/gpu"] == 8 for n in loaded.cluster.nodes)


def test_preflight_passes_on_a_good_manifest(emulator: Stack, tmp_path: Path) -> None:
    f = _write(tmp_path, "good", lws_manifest("pf-good", replicas=2, size=2, gpus=4))
    r = _lwssim(emulator, "preflight", "-f", f, "--output", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    names = {c["name"] for c in json.loads(r.stdout)["checks"]}
    assert {"kubernetes-version", "lws-crd", "lws-webhooks", "lws-controller", "simulation"} <= names


@pytest.mark.parametrize(
    ("case", "check"),
    [
        ("gpu", "resources-exist"),
        ("name", "lws-name-length"),
        ("mu0", "max-unavailable-zero"),
        ("topology", "exclusive-topology"),
    ],
)
def test_preflight_fails_with_the_right_check(emulator: Stack, tmp_path: Path, case: str, check: str) -> None:
    doc = lws_manifest("pf-bad", replicas=2, size=2, gpus=4)
    worker = doc["spec"]["leaderWorkerTemplate"]
    if case == "gpu":
        worker["workerTemplate"]["spec"]["containers"][0]["resources"] = {
            "requests": {"nvidia.com/h200": "1"}
        }
    elif case == "name":
        doc["metadata"]["name"] = "a" * 55
    elif case == "mu0":
        doc["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 1}}
    else:
        doc["metadata"]["annotations"] = {
            "leaderworkerset.sigs.k8s.io/exclusive-topology": "example.com/nope"
        }
    r = _lwssim(emulator, "preflight", "-f", _write(tmp_path, case, doc), "--output", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert check in _failed(r.stdout)


def test_preflight_says_how_much_is_asked_and_allocated(emulator: Stack, tmp_path: Path) -> None:
    """The 16-GPU pods of issue 20 on the emulator's 8-GPU nodes: numbers in the message and the JSON."""
    f = _write(tmp_path, "toobig", lws_manifest("toobig", replicas=1, size=2, gpus=16))
    r = _lwssim(emulator, "preflight", "-f", f, "--output", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    [check] = [c for c in json.loads(r.stdout)["checks"] if c["name"] == "node-match"]
    assert check["status"] == "fail" and check["subject"] == "toobig"
    assert (
        "request 16 nvidia.com/gpu; the largest matching node (gpu-0 … gpu-3) allocates 8" in check["message"]
    )
    assert check["message"].endswith("0/4 nodes are available: 4 Insufficient nvidia.com/gpu.")
    assert {
        (s["role"], s["resource"], s["asked"], s["offered"], s["nodeCount"]) for s in check["shortfalls"]
    } == {
        ("leader", "nvidia.com/gpu", 16, 8, 4),
        ("worker", "nvidia.com/gpu", 16, 8, 4),
    }


def test_preflight_fails_without_lws_webhooks(emulator: Stack, api: Any, tmp_path: Path) -> None:
    """Removes the validating webhook configuration and restores it, whatever happens."""
    from kubernetes import client

    adm = client.AdmissionregistrationV1Api(api)
    name = "lws-validating-webhook-configuration"
    saved = api.sanitize_for_serialization(adm.read_validating_webhook_configuration(name))
    saved["metadata"] = {"name": name, "labels": saved["metadata"].get("labels") or {}}
    adm.delete_validating_webhook_configuration(name)
    try:
        f = _write(tmp_path, "good", lws_manifest("pf-nowh", replicas=1, size=2, gpus=4))
        r = _lwssim(emulator, "preflight", "-f", f, "--output", "json")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "lws-webhooks" in _failed(r.stdout)
    finally:
        adm.create_validating_webhook_configuration(saved)


def test_preflight_unreachable_api_exits_2(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9"}}],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "users": [{"name": "x", "user": {}}],
            }
        )
    )
    f = _write(tmp_path, "good", lws_manifest("pf-x", replicas=1, size=2, gpus=4))
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lwssim.cli import main; main()",
            "preflight",
            "-f",
            f,
            "--kubeconfig",
            str(kc),
        ],
        capture_output=True,
        text=True,
        timeout=55,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_apply_observe_records_a_timeline_where_every_group_serves(emulator: Stack, tmp_path: Path) -> None:
    f = _write(tmp_path, "obs", lws_manifest("obs", replicas=2, size=2, gpus=4))
    record = tmp_path / "obs.json"
    r = _lwssim(
        emulator,
        "apply",
        "-f",
        f,
        "--observe",
        "--timeout",
        "40s",
        "--record",
        str(record),
        "--yes",
        "--cleanup",
    )
    assert r.returncode == 0, r.stderr
    # --cleanup deleted the LWS; its pods go once the garbage collector cascades (later tests need the GPUs).
    wait_for("pods of obs gone", lambda: not pods_of(emulator.api_client(), "obs"), timeout=120)
    timeline = Timeline.load(record)
    assert timeline.source == "observed" and timeline.cluster["gpus"] == 32
    report = build_report(timeline)
    [w] = report["workloads"]
    assert (w["name"], w["replicas"], w["size"], w["groupsServing"]) == ("obs", 2, 2, 2)
    assert w["timeToAllServingSeconds"] is not None and w["timeToAllServingSeconds"] <= timeline.horizon
    # no stdin: refused without --yes, nothing applied
    r2 = _lwssim(emulator, "apply", "-f", f)
    assert r2.returncode == 2 and "--yes" in r2.stderr
