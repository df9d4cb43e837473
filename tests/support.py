"""The tests' one set of builders: scenario documents from YAML-shaped dicts, loading, runs, record queries.

Two ways to a scenario document: ``scenario_doc(pools, workloads, ...)`` from ``pool``/``lws`` parts, or
``base_doc(spec=..., lws=...)``: BASE (six racked H100 nodes, two groups of two) with overrides merged
in. ``load``/``build`` load a document as the CLI loads a file; ``run``/``simulate`` run it.
``run_cli`` runs the command in-process within a time and memory bound, and ``assert_input_contract``
checks what bad input may do (exit 2, one error line, no traceback).
Not a test module (it collects no tests); conftest.py puts ``write_scenario`` on top of it as a fixture.
"""

from __future__ import annotations

import copy
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simpy
import yaml
from click.testing import CliRunner

from lwssim.analysis.report import build_report
from lwssim.engine.context import Cluster
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import Pod
from lwssim.engine.scheduling.fiterror import Diagnosis
from lwssim.engine.scheduling.framework import Scheduler
from lwssim.engine.world import World
from lwssim.manifests.scenario import load_scenario
from lwssim.model.cluster import Node
from lwssim.model.pod import Container, PodTemplate
from lwssim.model.scenario import Scenario
from lwssim.timeline import Record, Timeline

GPU = "nvidia.com/gpu"
H100 = {"cpu": "192", "memory": "2Ti"}  # ``pool(capacity=H100)``: an 8-GPU node's CPUs and memory
RACK = "example.com/rack"
EXCLUSIVE = {"leaderworkerset.sigs.k8s.io/exclusive-topology": RACK}
PREEMPT = " no new claims to deallocate, preemption: 0/{n} nodes are available: {parts}."


def pool(name: str = "gpu", count: int = 2, gpus: int = 8, **extra: object) -> dict:
    cap = {GPU: gpus, "cpu": "96", "memory": "1Ti", "pods": 110}
    cap.update(extra.pop("capacity", {}))  # type: ignore[arg-type]
    return {"name": name, "count": count, "capacity": cap, **extra}


def container(gpus: int | str = 8, image: str = "img:1", name: str = "main", **resources: object) -> dict:
    limits = {GPU: str(gpus)} if gpus else {}
    return {"name": name, "image": image, "resources": {"limits": limits, **resources}}


def lws(
    name: str = "llm",
    replicas: int = 1,
    size: int = 2,
    gpus: int | str = 8,
    image: str = "img:1",
    container_name: str = "main",
    annotations: dict | None = None,
    namespace: str | None = None,
    leader: dict | None = None,
    worker_spec: dict | None = None,
    **spec: object,
) -> dict:
    """A LeaderWorkerSet manifest; ``leader`` is a leader pod spec, ``worker_spec`` extra worker spec keys."""
    meta: dict = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    if namespace:
        meta["namespace"] = namespace
    lwt: dict = {
        "size": size,
        "workerTemplate": {
            "spec": {"containers": [container(gpus, image, container_name)], **(worker_spec or {})}
        },
    }
    for key in ("restartPolicy", "subGroupPolicy"):
        if key in spec:
            lwt[key] = spec.pop(key)
    if leader is not None:
        lwt["leaderTemplate"] = {"spec": leader}
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": meta,
        "spec": {"replicas": replicas, "leaderWorkerTemplate": lwt, **spec},
    }


def document(name: str = "t", **spec: object) -> dict:
    """A Scenario document around ``spec`` as given (no defaults added)."""
    return {"apiVersion": "lwssim.io/v1alpha1", "kind": "Scenario", "metadata": {"name": name}, "spec": spec}


def autoscaled_doc(
    name: str,
    pools: list[dict],
    autoscaling: dict,
    replicas: int,
    size: int,
    timing: dict,
    events: list | None = None,
    **spec: object,
) -> dict:
    """``pools`` autoscaled as ``autoscaling`` says, and LWS ``llm`` of ``replicas`` groups of ``size`` 8-GPU
    pods (tests/test_autoscaling.py, tests/test_cluster_autoscaler.py)."""
    body: dict = {
        "cluster": {"nodePools": pools, "autoscaling": autoscaling},
        "workloads": [{"manifest": lws(replicas=replicas, size=size)}],
        "timing": timing,
        **spec,
    }
    if events:
        body["events"] = events
    return document(name, **body)


def h100_doc(
    name: str,
    nodes: int,
    replicas: int = 2,
    gpus: int | str = 8,
    image: str = "vllm/vllm-openai:v0.8.5",
    container_name: str = "vllm",
    **spec: object,
) -> dict:
    """``nodes`` 8-GPU H100 nodes and LWS ``llm``: ``replicas`` groups of two ``gpus``-GPU pods, 1 h."""
    return document(
        name,
        horizon="1h",
        cluster={"nodePools": [pool("h100", nodes, capacity=H100)]},
        workloads=[
            {"manifest": lws(replicas=replicas, gpus=gpus, image=image, container_name=container_name)}
        ],
        **spec,
    )


def scenario_doc(
    pools: list[dict],
    workloads: list[dict],
    timing: dict | None = None,
    controller: dict | None = None,
    horizon: str = "1h",
    seed: int = 0,
    events: list[dict] | None = None,
) -> dict:
    spec: dict = {
        "seed": seed,
        "horizon": horizon,
        "cluster": {"nodePools": pools},
        "workloads": [{"manifest": w} for w in workloads],
        "timing": timing or {"imagePull": {"cold": "60s"}, "containerStart": "2s", "modelLoad": "100s"},
    }
    if controller:
        spec["controller"] = controller
    if events:
        spec["events"] = events
    return document(**spec)


BASE = document(
    "t",
    seed=1,
    horizon="3h",
    cluster={
        "nodePools": [
            pool(
                "h100",
                6,
                capacity=H100,
                topology=[{"key": "topology.kubernetes.io/zone", "size": 4}, {"key": RACK, "size": 2}],
            )
        ]
    },
    workloads=[{"manifest": lws(replicas=2, image="vllm", container_name="c")}],
    timing={"imagePull": {"cold": "60s"}, "modelLoad": "60s"},
)


def merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
    return a


def base_doc(spec: dict | None = None, lws: dict | None = None) -> dict:
    """BASE with ``spec`` merged into its spec and ``lws`` into its LeaderWorkerSet's spec."""
    doc = copy.deepcopy(BASE)
    merge(doc["spec"], spec or {})
    merge(doc["spec"]["workloads"][0]["manifest"]["spec"], lws or {})
    return doc


def write_scenario(directory: Path, doc: dict, name: str = "t.yaml") -> Path:
    """``doc`` as a YAML file ``directory/name``, where the CLI or the loader can read it."""
    path = directory / name
    path.write_text(yaml.safe_dump(doc))
    return path


def build(tmp_path: Path, spec: dict | None = None, lws: dict | None = None, name: str = "t.yaml") -> World:
    """A World for ``base_doc(spec, lws)``, loaded from a file in ``tmp_path``."""
    return World(load_scenario(write_scenario(tmp_path, base_doc(spec, lws), name)))


def simulate(tmp_path: Path, spec: dict | None = None, lws: dict | None = None):
    """Run ``build(tmp_path, spec, lws)``: the world, its timeline and their report."""
    world = build(tmp_path, spec, lws)
    timeline = world.run()
    return world, timeline, build_report(timeline)


def load(doc: dict) -> Scenario:
    """The scenario as the CLI would load it from a file."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "scenario.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return load_scenario(path)


def run(doc: dict, seed: int | None = None, before_run=None) -> tuple[World, Timeline]:
    """Simulate ``doc``; ``before_run(world)`` may add watches or processes first."""
    world = World(load(doc), seed)
    if before_run is not None:
        before_run(world)
    return world, world.run()


def at(world: World, t: float, action) -> None:
    """Run ``action()`` at simulated time ``t``."""

    def proc():
        yield world.env.timeout(t)
        action()

    world.env.process(proc())


def pod(world: World, name: str, namespace: str = "default") -> Pod:
    p = world.store.get("Pod", f"{namespace}/{name}")
    assert isinstance(p, Pod), f"no pod {name}"
    return p


def recs(tl: Timeline, kind: str, subject: str | None = None) -> list[Record]:
    return [r for r in tl.records if r.kind == kind and (subject is None or r.subject == subject)]


def first_t(tl: Timeline, kind: str, subject: str) -> float:
    found = recs(tl, kind, subject)
    assert found, f"no {kind} for {subject}"
    return found[0].t


def node(name: str, gpus: int = 8, cpu: int = 96_000, memory: int = 2**40, pods: int = 110, **kw) -> Node:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    if gpus:
        alloc[GPU] = gpus
    alloc.update(kw.pop("extra", {}))
    return Node(name=name, allocatable=tuple(sorted(alloc.items())), **kw)


def template(gpus: int = 1, image: str = "img:1", **kw) -> PodTemplate:
    requests = kw.pop("requests", None)
    if requests is None:
        requests = {GPU: gpus} if gpus else {}
    return PodTemplate(containers=(Container("main", image, tuple(sorted(requests.items()))),), **kw)


class Bench:
    """A Store, a NodeTable and a Scheduler on one SimPy environment, for unit-level scheduler tests."""

    def __init__(
        self, nodes: list[Node], seed: int = 0, strategy: str = "LeastAllocated", throughput: float = 100.0
    ) -> None:
        cluster = Cluster(simpy.Environment(), NodeTable(nodes), Timeline(horizon=3600))
        self.env, self.store, self.nodes, self.timeline = (
            cluster.env,
            cluster.store,
            cluster.nodes,
            cluster.timeline,
        )
        self.scheduler = Scheduler(cluster, np.random.default_rng(seed), throughput, strategy)
        self._n = 0

    def pod(self, tmpl: PodTemplate, node: str | None = None, name: str | None = None) -> Pod:
        """Create a pod; with ``node`` it is already bound there (holds resources)."""
        self._n += 1
        p = Pod(kind="Pod", name=name or f"p{self._n}", namespace="default", template=tmpl, node=node)
        assert self.store.create(p)
        return p

    def fit(self, tmpl: PodTemplate) -> int | tuple[str, frozenset[str]]:
        return self.scheduler.find_node(self.pod(tmpl))

    def message(self, tmpl: PodTemplate) -> str:
        result = self.fit(tmpl)
        assert not isinstance(result, int), f"pod fits on {self.nodes.names[result]}"
        return result[0]

    def place(self, tmpl: PodTemplate) -> str:
        result = self.fit(tmpl)
        assert isinstance(result, int), result
        return self.nodes.names[result]


# -- the CLI's input contract (docs/contract.md "Conventions"), for tests/test_input_edge.py and the fuzzer --


class CaseTimeout(Exception):
    """A CLI run took longer than its bound: the input made lwssim hang or crawl."""


@dataclass
class Outcome:
    """One in-process run of the `lwssim` command."""

    code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    seconds: float


@contextmanager
def bounded(seconds: float, memory: int) -> Iterator[None]:
    """Raise CaseTimeout after ``seconds`` and MemoryError beyond ``memory`` more bytes of address space.

    An alarm and RLIMIT_AS in this process: cheaper than a subprocess per case, and what a hang or a
    runaway allocation does inside is what it would do in the user's shell.
    """

    def alarm(*_args: object) -> None:
        raise CaseTimeout(f"no answer within {seconds} s")

    page = os.sysconf("SC_PAGE_SIZE")
    in_use = int(Path("/proc/self/statm").read_text().split()[0]) * page
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + memory if hard == resource.RLIM_INFINITY else min(in_use + memory, hard)
    previous = signal.signal(signal.SIGALRM, alarm)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


def run_cli(args: list[str], seconds: float = 20.0, memory: int = 1536 * 2**20) -> Outcome:
    """``lwssim ARGS`` in this process (click's CliRunner), within ``bounded(seconds, memory)``."""
    from lwssim.cli import cli

    start = time.perf_counter()
    with bounded(seconds, memory):
        result = CliRunner().invoke(cli, args)
    return Outcome(
        result.exit_code, result.stdout, result.stderr, result.exception, time.perf_counter() - start
    )


def run_cli_process(args: list[str], cwd: Path, seconds: float = 20.0, memory: int = 2**30) -> Outcome:
    """``lwssim ARGS`` in a child process limited to ``memory`` bytes of address space and killed after
    ``seconds``: a bound that holds even where the in-process alarm cannot interrupt (a hang in C code,
    such as str() of an expanded alias bomb)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    start = time.perf_counter()
    command = [
        sys.executable,
        "-c",
        "import sys; from lwssim.cli import main; sys.argv[0] = 'lwssim'; main()",
    ]
    try:
        done = subprocess.run(
            command + args, cwd=cwd, capture_output=True, text=True, timeout=seconds, preexec_fn=limit
        )
    except subprocess.TimeoutExpired:
        return Outcome(-1, "", "", CaseTimeout(f"no answer within {seconds} s"), seconds)
    return Outcome(done.returncode, done.stdout, done.stderr, None, time.perf_counter() - start)


def assert_input_contract(out: Outcome) -> None:
    """Exit 0, 1 or 2; no traceback; at most one ``error:`` line, and on exit 2 exactly that, stdout empty."""
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)
    assert out.code in (0, 1, 2), out.code
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, out.stderr
    if out.code == 2:
        assert len(errors) == 1 and out.stdout == "", (out.stdout[:200], out.stderr)


def assert_same_diagnosis(resources: list[str], counted: Diagnosis, full: Diagnosis) -> None:
    """A Diagnosis read from the scheduler's kept counts says what the full filter pass's says, to each
    of its readers: statuses, FitError histogram, unresolvable nodes, rejecting plugins, the nodes
    preemption might help."""
    assert counted.stage.tolist() == full.stage.tolist()
    assert counted.histogram(resources) == full.histogram(resources)
    assert counted.unresolvable() == full.unresolvable()
    assert counted.unschedulable_plugins() == full.unschedulable_plugins()
    assert counted.helpful_nodes().tolist() == full.helpful_nodes().tolist()
