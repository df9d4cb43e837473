"""Scenario loading: defaults, references, merge-patch events and bad-input messages (schema.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lwssim.errors import InputError, UnsupportedError
from lwssim.manifests.scenario import load_scenario
from lwssim.model.scenario import ControllerConfig

DATA = Path(__file__).parent / "data"

MINIMAL = """\
apiVersion: lwssim.io/v1alpha1
kind: Scenario
metadata: {name: t}
spec:
  cluster:
    nodePools: [{name: h100, count: 2, capacity: {nvidia.com/gpu: 8}}]
  workloads:
  - manifest:
      apiVersion: leaderworkerset.x-k8s.io/v1
      kind: LeaderWorkerSet
      metadata: {name: llm}
      spec:
        replicas: 2
        leaderWorkerTemplate:
          size: 2
          workerTemplate:
            spec: {containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: 8}}}]}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    f = tmp_path / name
    f.write_text(textwrap.dedent(text))
    return f


def fails(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(write(tmp_path, text))
    return info.value


def test_full_fixture_loads():
    s = load_scenario(DATA / "scenario-full.yaml")
    assert (s.name, s.seed, s.horizon) == ("full", 7, 7200.0)
    assert [n.name for n in s.cluster.nodes] == ["h100-0", "h100-1", "h100-2", "h100-3", "gpu-a", "gpu-b"]
    assert dict(s.cluster.nodes[3].labels)["example.com/rack"] == "h100-rack-1"
    assert [w.name for w in s.workloads] == ["llm", "ds", "inline"]
    assert s.workloads[1].lws.name == "ds-kserve-mn" and s.workloads[1].lws.size == 2
    assert s.timing.for_role("leader", "model_load").a == 300 and s.timing.model_load.kind == "lognormal"
    assert s.controller.lws_version == "v0.9.1" and s.controller.gate("MaxUnavailableStatefulSet")
    assert [f.kind for f in s.faults.scripted] == ["nodeDown", "nodeDown", "nodeUp", "domainDown", "podCrash"]
    assert len(s.faults.node_failures.causes) == 6  # Llama 3 mix filled in
    assert abs(sum(c.weight for c in s.faults.node_failures.causes) - 1) < 1e-9
    assert [e.field_path for e in s.expect][:2] == [
        "spec.expect[0].groupsServing.atLeast",
        "spec.expect[0].timeToAllServing.atMost",
    ]
    assert s.expect[1].value == 900 and s.expect[3].workload is None and s.expect[3].quantile == 0.95


def test_defaults(tmp_path):
    s = load_scenario(write(tmp_path, MINIMAL))
    assert (s.seed, s.horizon, s.controller.lws_version) == (0, 6 * 3600, "v0.7.0")
    assert s.timing.image_pull_cold.a == 420 and s.faults.node_failures is None
    assert s.cluster.pools[0].capacity == (("nvidia.com/gpu", 8),)


def test_patch_events_are_cumulative_and_rederived(tmp_path):
    s = load_scenario(
        write(
            tmp_path,
            MINIMAL
            + """\
  events:
  - {at: 2h, patch: {workload: llm, spec: {leaderWorkerTemplate: {size: 4}}}}
  - {at: 1h, scale: {workload: llm, replicas: 3}}
  - {at: 3h, patch: {workload: llm, spec: {rolloutStrategy: {rollingUpdateConfiguration: {maxSurge: 1}}}}}
  - {at: 4h, patch: {workload: llm, spec: {rolloutStrategy: null}}}
""",
        )
    )
    assert [(p.at, p.lws.replicas, p.lws.size) for p in s.patches] == [
        (7200, 3, 4),
        (10800, 3, 4),
        (14400, 3, 4),
    ]
    assert s.patches[1].lws.rolling_update.max_surge == 1
    assert s.patches[2].lws.rolling_update.max_surge == 0  # null deletes (RFC 7386) → webhook default again
    assert s.scales[0].replicas == 3


def test_patch_that_breaks_the_manifest_is_reported_at_the_event(tmp_path):
    e = fails(
        tmp_path,
        MINIMAL
        + """\
  events:
  - {at: 1h, patch: {workload: llm, spec: {leaderWorkerTemplate: {size: 0}}}}
""",
    )
    assert e.field == "spec.events[0].patch" and "size must be equal or greater than 1" in e.message


def test_llmisvc_patch_rederives_and_size_is_immutable(tmp_path):
    base = MINIMAL.replace("  - manifest:", "  - file: svc.yaml\n  - manifest:")
    (tmp_path / "svc.yaml").write_text((DATA / "lws-small.yaml").read_text().split("---")[1])
    s = load_scenario(
        write(tmp_path, base + "  events:\n  - {at: 1h, patch: {workload: ds, spec: {replicas: 3}}}\n")
    )
    assert s.patches[0].lws.name == "ds-kserve-mn" and s.patches[0].lws.replicas == 3
    e = fails(
        tmp_path,
        base + "  events:\n  - {at: 1h, patch: {workload: ds, spec: {parallelism: {dataLocal: 4}}}}\n",
    )
    assert "immutable" in e.message


def test_malformed_yaml_has_line_and_column(tmp_path):
    e = fails(tmp_path, "apiVersion: lwssim.io/v1alpha1\nkind: Scenario\nspec: {a: [}\n")
    assert e.file.endswith("s.yaml") and "line 3, column 12" in e.message


def test_yaml_cut_short_names_the_end_and_where_the_open_node_starts(tmp_path):
    e = fails(tmp_path, "apiVersion: lwssim.io/v1alpha1\nkind: [Scenario\n")
    assert "at the end of the file" in e.message and "at line 2, column 7" in e.message


@pytest.mark.parametrize(
    "old, new, field, text",
    [
        (
            "  cluster:",
            "  horzion: 1h\n  cluster:",
            "spec",
            'unknown field "horzion" (did you mean "horizon"?)',
        ),
        (
            "capacity: {nvidia.com/gpu: 8}",
            'capacity: {nvidia.com/gpu: "8x"}',
            "spec.cluster.nodePools[0].capacity.nvidia.com/gpu",
            '"8x" is not a quantity',
        ),
        ("  cluster:", "  horizon: 6 hours\n  cluster:", "spec.horizon", '"6 hours" is not a duration'),
        ("  cluster:", "  horizon: 3600\n  cluster:", "spec.horizon", "expected a duration"),
        ("count: 2", "count: two", "spec.cluster.nodePools[0].count", "expected an integer"),
        (
            "  cluster:",
            "  controller: {gangScheduling: kueue}\n  cluster:",
            "spec.controller.gangScheduling",
            '"kueue" is not one of',
        ),
        (
            "  cluster:",
            "  controller: {lwsVersion: v0.6.0}\n  cluster:",
            "spec.controller.lwsVersion",
            "lwssim models LWS v0.7.x",
        ),
        ("metadata: {name: t}", "metadata: {}", "metadata.name", "required field is missing"),
        ("kind: Scenario", "kind: Scenery", "kind", "is not one of"),
    ],
)
def test_bad_input_messages(tmp_path, old, new, field, text):
    e = fails(tmp_path, MINIMAL.replace(old, new))
    assert e.field == field and text in e.message, e.render()


def test_bad_timing_distribution(tmp_path):
    e = fails(tmp_path, MINIMAL + "  timing: {modelLoad: {uniform: {min: 5m, max: 1m}}}\n")
    assert e.field == "spec.timing.modelLoad.uniform" and "must not exceed" in e.message
    e = fails(tmp_path, MINIMAL + "  timing: {modelLoad: {gamma: {k: 1}}}\n")
    assert e.field == "spec.timing.modelLoad" and 'unknown field "gamma"' in e.message


def test_missing_files_are_named_at_the_field(tmp_path):
    e = fails(tmp_path, MINIMAL.replace("  workloads:", "    nodes: nope.yaml\n  workloads:"))
    assert e.field == "spec.cluster.nodes" and "nope.yaml does not exist" in e.message
    e = fails(tmp_path, MINIMAL.replace("  - manifest:", "  - file: gone.yaml\n  - manifest:"))
    assert e.field == "spec.workloads[0].file"


def test_unknown_workload_names(tmp_path):
    e = fails(tmp_path, MINIMAL + "  expect: [{workload: lm, groupsServing: {atLeast: 1}}]\n")
    assert e.field == "spec.expect[0].workload"
    assert 'unknown workload "lm" (did you mean "llm"?); workloads are: llm' in e.message
    e = fails(tmp_path, MINIMAL + "  events: [{at: 1h, scale: {workload: x, replicas: 1}}]\n")
    assert e.field == "spec.events[0].scale.workload"


def test_scripted_fault_targets_checked(tmp_path):
    ok = (
        MINIMAL
        + "  faults:\n    scripted: [{at: 1h, podCrash: llm-1-1}, {at: 2h, nodeDown: {node: h100-1}}]\n"
    )
    assert len(load_scenario(write(tmp_path, ok)).faults.scripted) == 2
    e = fails(
        tmp_path, MINIMAL + "  faults:\n    scripted: [{at: 1h, podCrash: llm-0-2}]\n"
    )  # size 2: worker 1 only
    assert e.field == "spec.faults.scripted[0].podCrash" and "belongs to no workload" in e.message
    e = fails(tmp_path, MINIMAL + "  faults:\n    scripted: [{at: 1h, nodeDown: {node: h100-9}}]\n")
    assert e.field == "spec.faults.scripted[0].nodeDown.node"
    e = fails(tmp_path, MINIMAL + "  faults:\n    scripted: [{at: 1h, podCrash: llm-0, podDelete: llm-0}]\n")
    assert "exactly one" in e.message


def test_duplicate_node_names(tmp_path):
    text = MINIMAL.replace(
        "nodePools: [{name: h100, count: 2, capacity: {nvidia.com/gpu: 8}}]",
        "nodePools: [{name: gpu, count: 1, capacity: {cpu: 1}}]\n    nodes: n.yaml",
    )
    (tmp_path / "n.yaml").write_text("kind: NodeList\nitems: [{kind: Node, metadata: {name: gpu-0}}]\n")
    e = fails(tmp_path, text)
    assert 'duplicate node name "gpu-0"' in e.message


def test_other_kinds_rejected_naming_the_document(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "kind: ConfigMap\napiVersion: v1\n---\nkind: Deployment\napiVersion: apps/v1\n"
    )
    e = fails(tmp_path, MINIMAL.replace("  - manifest:", "  - file: m.yaml\n  - manifest:"))
    assert e.file.endswith("m.yaml (document 1)") and "ConfigMap" in e.message


def test_expect_needs_workload_except_pending_pods(tmp_path):
    e = fails(tmp_path, MINIMAL + "  expect: [{groupsServing: {atLeast: 1}}]\n")
    assert e.field == "spec.expect[0].workload"
    e = fails(tmp_path, MINIMAL + "  expect: [{workload: llm, availability: {atLeast: 2}}]\n")
    assert e.field == "spec.expect[0].availability.atLeast"


def test_scenario_manifests_in_repo_load():
    root = Path(__file__).parent.parent / "scenarios" / "manifests"
    for f in sorted(root.glob("*.yaml")):
        text = f"""\
apiVersion: lwssim.io/v1alpha1
kind: Scenario
metadata: {{name: t}}
spec:
  cluster: {{nodePools: [{{name: p, count: 8, capacity: {{nvidia.com/gpu: 8}}}}]}}
  workloads: [{{file: {f}}}]
"""
        s = load_scenario_text(text, f.parent)
        assert s.workloads


def load_scenario_text(text: str, where: Path):
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=where, delete=False) as fh:
        fh.write(text)
    try:
        return load_scenario(fh.name)
    finally:
        Path(fh.name).unlink()


def test_unsupported_is_input_error():
    assert issubclass(UnsupportedError, InputError)


@pytest.mark.parametrize(
    ("version", "gate"), [("v1.34", False), ("v1.35", False), ("v1.36.3", False), ("v1.37", True)]
)
def test_kubernetes_version_gives_the_gate_defaults_of_that_release(version, gate):
    config = ControllerConfig(kubernetes_version=version)
    assert config.gate("MaxUnavailableStatefulSet") is gate
    assert ControllerConfig(
        kubernetes_version=version, feature_gates=(("MaxUnavailableStatefulSet", not gate),)
    ).gate("MaxUnavailableStatefulSet") is (not gate)
