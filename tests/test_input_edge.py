"""Bad input never gets a traceback, a hang or a false green (issue 13): the catalogue, one case each.

Every case runs the real `lwssim` command in this process within a time and memory bound (support.bounded)
and must keep the input contract (support.assert_input_contract): the cases that used to print a traceback,
allocate gigabytes or hang now exit 2 with one message naming the file, the field and the limit. The
fuzzer beside this file (test_input_fuzz.py) holds the same contract over mutated bundled scenarios.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from support import assert_input_contract, run_cli, run_cli_process

from lwssim import runner
from lwssim.errors import InputError, one_line
from lwssim.manifests import limits
from lwssim.manifests.where import Where, show
from lwssim.model.scenario import Expectation

GPU = "nvidia.com/gpu"
REPO = Path(__file__).parent.parent


def scenario(count: int = 4, replicas: int = 2, size: int = 2, **spec: object) -> dict:
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "Scenario",
        "metadata": {"name": "edge"},
        "spec": {
            "horizon": "1h",
            "cluster": {"nodePools": [{"name": "h100", "count": count, "capacity": {GPU: 8, "pods": 110}}]},
            "workloads": [{"manifest": lws_manifest(replicas, size)}],
            **spec,
        },
    }


def lws_manifest(replicas: int = 2, size: int = 2) -> dict:
    container = {"name": "main", "image": "img:1", "resources": {"limits": {GPU: 8}}}
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "llm"},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {"size": size, "workerTemplate": {"spec": {"containers": [container]}}},
        },
    }


def llmisvc(data: int, local: int) -> dict:
    pod = {"containers": [{"name": "main", "image": "img:1", "resources": {"limits": {GPU: 8}}}]}
    return {
        "apiVersion": "serving.kserve.io/v1alpha2",
        "kind": "LLMInferenceService",
        "metadata": {"name": "ds"},
        "spec": {"parallelism": {"data": data, "dataLocal": local}, "template": pod, "worker": pod},
    }


def with_containers(doc: dict, limits: list[dict]) -> dict:
    """``doc`` with its LWS's worker pods running one container per entry of ``limits``."""
    pod = doc["spec"]["workloads"][0]["manifest"]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    pod["containers"] = [
        {"name": f"c{i}", "image": "img:1", "resources": {"limits": lim}} for i, lim in enumerate(limits)
    ]
    return doc


def dump(doc: object) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def nested(depth: int) -> str:
    return dump(scenario(seed=0)).replace("seed: 0", "seed: " + "[" * depth + "]" * depth)


def alias_bomb(levels: int) -> str:
    """A billion-laughs ``spec.seed``: each level is nine aliases of the one below (about 10 * 9**levels)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return dump(scenario(seed=0)).replace("seed: 0", "seed: {" + ", ".join(lines) + "}")


def duplicate_count() -> str:
    text = dump(scenario(count=4))
    return text.replace("count: 4\n", "count: 4\n      count: 40\n")


NODES_POD_LIST = dump({"apiVersion": "v1", "kind": "PodList", "items": []})
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {GPU: 8}}}


# id → (files written to tmp_path, command line with {s} for s.yaml, expected exit, words stderr must hold)
CATALOGUE: dict[str, tuple[dict[str, str], list[str], int, list[str]]] = {
    # 1. no traceback, ever, from input
    "horizon-zero": (
        {"s.yaml": dump(scenario(horizon="0s"))},
        ["simulate", "{s}"],
        2,
        ["spec.horizon: must be longer than 0s"],
    ),
    "horizon-beyond-a-year": (  # found by the fuzzer: a startup-probe recreation loop over 3,000 hours
        {"s.yaml": dump(scenario(horizon="8761h"))},
        ["simulate", "{s}"],
        2,
        ["spec.horizon: the horizon is 8,761 hours, beyond lwssim's limit of 8,760 hours"],
    ),
    "seed-negative-simulate": (
        {"s.yaml": dump(scenario())},
        ["simulate", "{s}", "--seed", "-1"],
        2,
        ["'--seed'"],
    ),
    "seed-negative-check": ({"s.yaml": dump(scenario())}, ["check", "{s}", "--seed", "-1"], 2, ["'--seed'"]),
    "seed-negative-plan": (
        {"s.yaml": dump(scenario())},
        ["plan", "{s}", "--pool", "h100", "--seed", "-1"],
        2,
        ["'--seed'", "0<=x"],
    ),
    "seed-negative-yaml": ({"s.yaml": dump(scenario(seed=-1))}, ["simulate", "{s}"], 2, ["spec.seed"]),
    "nesting-500": ({"s.yaml": nested(500)}, ["simulate", "{s}"], 2, ["limit of 100 levels"]),
    "nesting-5000": ({"s.yaml": nested(5000)}, ["simulate", "{s}"], 2, ["invalid YAML at line 32"]),
    "quantile-nan": (
        {"s.yaml": dump(scenario())},
        ["plan", "{s}", "--pool", "h100", "--quantile", "nan"],
        2,
        ["'--quantile'", "not a finite number"],
    ),
    "tolerance-inf": (
        {"s.yaml": dump(scenario()), "o.json": "{}"},
        ["compare", "o.json", "--scenario", "{s}", "--tolerance", "inf"],
        2,
        ["'--tolerance'"],
    ),
    "jobs-too-many": (
        {"s.yaml": dump(scenario())},
        ["plan", "{s}", "--pool", "h100", "--jobs", "100000"],
        2,
        ["'--jobs'"],
    ),
    "yaml-inf-rate": (
        {"s.yaml": dump(scenario(faults={"containerCrashes": {"ratePerPodDay": float("inf")}}))},
        ["simulate", "{s}"],
        2,
        [".inf is not a finite number"],
    ),
    "yaml-huge-integer": (
        {"s.yaml": dump(scenario()).replace("count: 4", "count: " + "9" * 5000)},
        ["simulate", "{s}"],
        2,
        ["integer beyond 64 bits"],
    ),
    "yaml-binary-tag": (
        {"s.yaml": dump(scenario()).replace("name: edge", "name: !!binary aGk=")},
        ["simulate", "{s}"],
        2,
        ["!!binary values are not JSON"],
    ),
    "not-utf8": ({"s.yaml": "kind: \udcff"}, ["simulate", "{s}"], 2, ["cannot read"]),
    # 2. size guards before allocation
    "pool-count-1e9": (
        {"s.yaml": dump(scenario(count=1_000_000_000))},
        ["simulate", "{s}"],
        2,
        ["nodePools[0].count", "limit of 20,000 nodes"],
    ),
    "lws-size-1e6-simulate": (
        {"s.yaml": dump(scenario(replicas=1, size=1_000_000))},
        ["simulate", "{s}"],
        2,
        ["leaderWorkerTemplate.size", "limit of 5,000 pods"],
    ),
    "lws-size-1e6-plan": (
        {"s.yaml": dump(scenario(replicas=1, size=1_000_000))},
        ["plan", "{s}", "--pool", "h100"],
        2,
        ["limit of 5,000 pods"],
    ),
    "pods-1e6": (
        {"s.yaml": dump(scenario(replicas=1000, size=1000))},
        ["simulate", "{s}"],
        2,
        ["spec.workloads", "llm: 1,000 groups of 1,000", "limit of 200,000 pods"],
    ),
    "scale-event-6000-groups": (  # found by the fuzzer: a rollout over 6,000 groups ran for minutes
        {"s.yaml": dump(scenario(events=[{"at": "1m", "scale": {"workload": "llm", "replicas": 6000}}]))},
        ["simulate", "{s}"],
        2,
        ["spec.workloads: LeaderWorkerSet llm at its most is 6,000 groups, beyond lwssim's limit of 2,000"],
    ),
    "plan-beyond-node-limit": (  # 200,000 one-node groups need 200,000 nodes: refused before the search
        {"s.yaml": dump(scenario(replicas=40, size=5000))},
        ["plan", "{s}", "--pool", "h100", "--jobs", "1"],
        2,
        ["--pool", "limit of 20,000 nodes"],
    ),
    "fault-rate-1e9": (
        {"s.yaml": dump(scenario(faults={"nodeFailures": {"ratePerNodeDay": 1e9, "repair": "1h"}}))},
        ["simulate", "{s}"],
        2,
        ["spec.faults.nodeFailures", "limit of 100,000 faults"],
    ),
    "quantity-beyond-1e18": (  # found by the fuzzer: NumPy's OverflowError when the engine built its tables
        {"s.yaml": dump(scenario()).replace("pods: 110", "pods: 110\n        memory: 2000000000000Ti")},
        ["simulate", "{s}"],
        2,
        ['capacity.memory: "2000000000000Ti" is beyond lwssim\'s limit of 10^18'],
    ),
    "pod-requests-sum-beyond-1e18": (  # each container within 10^18 bytes, the pod's sum beyond it
        {"s.yaml": dump(with_containers(scenario(), [{GPU: 8, "memory": "900P"}, {"memory": "900P"}]))},
        ["simulate", "{s}"],
        2,
        ["workerTemplate.spec.containers: the pod requests 1,800,000,000,000,000,000 of memory in all"],
    ),
    "alias-bomb": ({"s.yaml": alias_bomb(9)}, ["simulate", "{s}"], 2, ["limit of 3,000,000 values"]),
    "alias-bomb-in-message": (  # 9**5 lists of "lol" reach the type error of spec.seed: shown cut short
        {"s.yaml": alias_bomb(5)},
        ["simulate", "{s}"],
        2,
        ["spec.seed: expected an integer, got a mapping {"],
    ),
    "recursive-alias": (
        {"s.yaml": dump(scenario(seed=0)).replace("seed: 0", "seed: &a [*a]")},
        ["simulate", "{s}"],
        2,
        ["alias *a refers to a node that contains it"],
    ),
    "long-value-in-message": (
        {"s.yaml": dump(scenario(horizon="x" * 1_000_000))},
        ["simulate", "{s}"],
        2,
        ['spec.horizon: "xxxx', '…" is not a duration'],
    ),
    # 4. likely mistakes get a word
    "duplicate-key": (
        {"s.yaml": duplicate_count()},
        ["simulate", "{s}"],
        2,
        ["line 11, column 7", "first at line 10", 'duplicate key "count"'],
    ),
    "llmisvc-lost-ranks": (
        {"s.yaml": dump(scenario(workloads=[{"manifest": llmisvc(20, 8)}]))},
        ["simulate", "{s}", "-o", "json"],
        0,
        ["warning: s.yaml: spec.workloads[0].manifest.spec.parallelism: data 20", "ranks 16-19"],
    ),
    "nodes-pod-list": (
        {
            "s.yaml": dump(scenario()).replace("  workloads:", "    nodes: pods.yaml\n  workloads:"),
            "pods.yaml": NODES_POD_LIST,
        },
        ["simulate", "{s}"],
        2,
        ["spec.cluster.nodes: pods.yaml lists no Node (it holds PodList); expected a NodeList"],
    ),
    "lws-as-scenario": (
        {"s.yaml": dump(lws_manifest())},
        ["simulate", "{s}"],
        2,
        [
            "this is LeaderWorkerSet (leaderworkerset.x-k8s.io/v1), not a lwssim Scenario",
            "spec.workloads[].file",
        ],
    ),
    "deployment-as-scenario": (
        {"s.yaml": dump({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}})},
        ["check", "{s}"],
        2,
        ["this is Deployment (apps/v1), not a lwssim Scenario (lwssim.io/v1alpha1)"],
    ),
    "plots-dir-json-simulate": (
        {"s.yaml": dump(scenario())},
        ["simulate", "{s}", "-o", "json", "--plots-dir", "plots"],
        2,
        ["--plots-dir writes plots only with --output markdown, not json"],
    ),
    "plots-dir-html-plan": (
        {"s.yaml": dump(scenario())},
        ["plan", "{s}", "--pool", "h100", "-o", "html", "--plots-dir", "plots"],
        2,
        ["not html (html embeds its plots)"],
    ),
    "plots-dir-table-compare": (
        {"s.yaml": dump(scenario()), "o.json": "{}"},
        ["compare", "o.json", "--scenario", "{s}", "--plots-dir", "plots"],
        2,
        ["not table"],
    ),
}


# Cases that used to allocate gigabytes or hang, some in C code an alarm cannot interrupt: each runs in a
# child process limited to 1 GiB of address space and killed after 20 s.
HEAVY = {
    "pool-count-1e9",
    "lws-size-1e6-simulate",
    "lws-size-1e6-plan",
    "pods-1e6",
    "plan-beyond-node-limit",
    "fault-rate-1e9",
    "alias-bomb",
    "alias-bomb-in-message",
    "nesting-500",
}


@pytest.mark.parametrize("case", CATALOGUE)
def test_catalogue(tmp_path, monkeypatch, case):
    files, args, code, words = CATALOGUE[case]
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    args = [a.replace("{s}", "s.yaml") for a in args]
    out = run_cli_process(args, tmp_path) if case in HEAVY else run_cli(args)
    assert_input_contract(out)
    assert out.code == code, out.stderr
    for word in words:
        assert word in out.stderr
    assert max(map(len, out.stderr.splitlines())) < 400  # values shown cut short, never whole
    assert not (tmp_path / "plots").exists()  # nothing written for input refused


def test_bounded_cases_answer_fast(tmp_path, monkeypatch):
    """The size guards act before allocating: the refusals take well under a second."""
    monkeypatch.chdir(tmp_path)
    for case in ("pool-count-1e9", "lws-size-1e6-simulate", "alias-bomb", "nesting-5000"):
        (tmp_path / "s.yaml").write_text(CATALOGUE[case][0]["s.yaml"])
        out = run_cli(["simulate", "s.yaml"], seconds=10, memory=512 * 2**20)
        assert out.code == 2 and out.seconds < 2, (case, out.seconds)


def test_file_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("lwssim.manifests.yamlio.MAX_FILE_BYTES", 1024)
    (tmp_path / "s.yaml").write_text(dump(scenario()) + "#" * 2048 + "\n")
    out = run_cli(["simulate", str(tmp_path / "s.yaml")])
    assert_input_contract(out)
    assert out.code == 2 and "larger than lwssim's limit of 1,024 bytes" in out.stderr


def test_listed_nodes_count_toward_the_node_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("lwssim.manifests.scenario.MAX_NODES", 5)
    nodes = [{**NODE, "metadata": {"name": f"n{i}"}} for i in range(2)]
    (tmp_path / "nodes.yaml").write_text(dump({"apiVersion": "v1", "kind": "List", "items": nodes}))
    doc = scenario(count=4)
    doc["spec"]["cluster"]["nodes"] = "nodes.yaml"
    (tmp_path / "s.yaml").write_text(dump(doc))
    out = run_cli(["simulate", str(tmp_path / "s.yaml")])
    assert (
        out.code == 2
        and "spec.cluster.nodes: the cluster is 6 nodes, beyond lwssim's limit of 5" in out.stderr
    )
    doc["spec"]["cluster"]["nodePools"][0]["count"] = 3
    (tmp_path / "s.yaml").write_text(dump(doc))
    assert run_cli(["simulate", str(tmp_path / "s.yaml"), "-o", "json"]).code == 0  # 5 nodes: at the limit


def test_merge_keys_may_override_without_being_duplicates(tmp_path):
    text = dump(scenario()).replace("count: 4", "<<: {count: 2}\n      count: 4")
    (tmp_path / "s.yaml").write_text(text)
    out = run_cli(["simulate", str(tmp_path / "s.yaml"), "-o", "json"])
    assert out.code == 0 and '"nodes": 4' in out.stdout


def test_llmisvc_data_below_data_local_is_named(tmp_path):
    doc = scenario()
    doc["spec"]["workloads"] = [{"manifest": llmisvc(4, 8)}]
    (tmp_path / "s.yaml").write_text(dump(doc))
    out = run_cli(["simulate", str(tmp_path / "s.yaml"), "-o", "json"])
    assert out.code == 0 and "data 4 is less than dataLocal 8" in out.stderr
    doc["spec"]["workloads"] = [{"manifest": llmisvc(16, 8)}]
    (tmp_path / "s.yaml").write_text(dump(doc))
    assert "warning" not in run_cli(["simulate", str(tmp_path / "s.yaml"), "-o", "json"]).stderr


def test_a_warning_is_said_once_per_run(tmp_path):
    """Each scale event re-derives the LWS from the manifest; the warning it gives is still said once."""
    doc = scenario()
    doc["spec"]["workloads"] = [{"manifest": llmisvc(20, 8)}]
    doc["spec"]["events"] = [{"at": f"{m}m", "scale": {"workload": "ds", "replicas": m}} for m in (1, 2)]
    (tmp_path / "s.yaml").write_text(dump(doc))
    out = run_cli(["simulate", str(tmp_path / "s.yaml"), "-o", "json"])
    assert out.code == 0 and out.stderr.count("warning:") == 1


def test_shown_values_are_short_whatever_their_size():
    shared: list = ["x" * 100] * 9
    for _ in range(8):
        shared = [shared] * 9  # 9**9 leaves once expanded
    assert len(show(shared)) <= 60 and len(show("y" * 10**6)) <= 62 and len(show(10**4000 // 7)) <= 60
    message = InputError("f.yaml", "spec.a", "bad " + "z" * 10**6 + " here\nand there").render()
    assert len(message) < 200 and "\n" not in message and message.endswith("… here and there")
    assert one_line("a  b\n c") == "a b c"
    assert Where("f").key("k" * 1000).path.endswith("…") and len(Where("f").key("k" * 1000).path) == 60


def test_limits_are_stated_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for value in (
        limits.MAX_NODES,
        limits.MAX_PODS,
        limits.MAX_GROUP_SIZE,
        limits.MAX_GROUPS,
        limits.MAX_RANDOM_FAULTS,
    ):
        assert f"{value:,}" in readme
    assert f"{limits.MAX_FILE_BYTES // 2**20} MiB" in readme and f"{limits.MAX_YAML_NODES:,}" in readme


# 7. check --seed reaches the Monte Carlo runs behind quantile expectations


def test_check_seed_option_reaches_the_monte_carlo_runs(tmp_path, monkeypatch):
    base = runner.load(str(REPO / "scenarios" / "deepseek-r1-dp-ep.yaml"))
    quantile = Expectation("deepseek-r1-0528", "groupsServing", "atLeast", 0, 0.5, 0, "spec.expect[0]")
    monkeypatch.setattr(runner, "load", lambda _path: replace(base, expect=(quantile,)))
    seeds: list[int] = []
    real_run = runner.run

    def run(sc, seed=None):
        seeds.append(sc.seed if seed is None else seed)
        return real_run(sc, seed)

    monkeypatch.setattr(runner, "run", run)
    out = run_cli(["check", "s.yaml", "--seed", "11", "--runs", "3"])
    assert out.code == 0, out.stderr
    assert seeds == [runner.run_seed(11, i) for i in range(3)] + [11]
    assert len(set(seeds)) == 4 and base.seed not in seeds


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("kubernetesVersion", "v1.38", 'kubernetesVersion: "v1.38": lwssim models Kubernetes v1.34 to v1.37'),
        ("kubernetesVersion", "1.35", 'kubernetesVersion: "1.35": lwssim models Kubernetes v1.34 to v1.37'),
        (
            "lwsVersion",
            "v0.11.0",
            'lwsVersion: "v0.11.0": lwssim models LWS v0.7.x, v0.8.x, v0.9.x and v0.10.x',
        ),
    ],
)
def test_a_version_lwssim_does_not_model_is_named_with_those_it_does(tmp_path, field, value, words):
    (tmp_path / "s.yaml").write_text(dump(scenario(controller={field: value})))
    out = run_cli(["simulate", str(tmp_path / "s.yaml"), "-o", "json"])
    assert_input_contract(out)
    assert out.code == 2 and f"spec.controller.{words}" in out.stderr
