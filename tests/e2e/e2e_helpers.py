"""Helpers shared by the e2e tests (a module of its own so test files can import it)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lwssim.emulator import build
from lwssim.emulator.nodes import NodeSpec
from lwssim.emulator.stack import Options, Stack

LWS_GROUP = "leaderworkerset.x-k8s.io"
NS = "default"
RACK = "example.com/rack"


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5) -> Any:
    """Poll ``cond`` until it returns something truthy; fail the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def lws_manifest(
    name: str,
    *,
    replicas: int = 1,
    size: int = 2,
    gpus: int = 8,
    annotations: dict[str, str] | None = None,
    worker_labels: dict[str, str] | None = None,
    restart_policy: str = "RecreateGroupOnPodRestart",
) -> dict[str, Any]:
    """A LeaderWorkerSet whose every pod asks for ``gpus`` GPUs (leader and workers alike)."""
    container = {
        "name": "vllm",
        "image": "registry.invalid/vllm:fake",
        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}},
    }
    return {
        "apiVersion": f"{LWS_GROUP}/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "restartPolicy": restart_policy,
                "workerTemplate": {
                    "metadata": {"labels": worker_labels or {}},
                    "spec": {"containers": [container]},
                },
            },
        },
    }


def get_lws(api: Any, name: str) -> dict[str, Any]:
    from kubernetes import client

    co = client.CustomObjectsApi(api)
    return co.get_namespaced_custom_object(LWS_GROUP, "v1", NS, "leaderworkersets", name)


def distributions_agree(what: str, observed: list[int], simulated: list[int], outcome: int) -> float:
    """Fisher's exact test (two-sided) of ``outcome`` against the rest, emulator trials against simulated
    seeds: the p-value, printed with both distributions. Agreement is not rejected at p >= 0.01."""
    from collections import Counter

    from scipy.stats import fisher_exact

    table = [[sum(x == outcome for x in xs), sum(x != outcome for x in xs)] for xs in (observed, simulated)]
    p = float(fisher_exact(table).pvalue)
    print(
        f"\n{what}: emulator {dict(sorted(Counter(observed).items()))} (n {len(observed)}), simulator "
        f"{dict(sorted(Counter(simulated).items()))} (n {len(simulated)}); Fisher's exact test on "
        f"{outcome} vs the rest: p = {p:.3f}"
    )
    return p


def lws_ready(api: Any, name: str, replicas: int) -> bool:
    """The real controller reports every group ready and the LWS Available."""
    st = get_lws(api, name).get("status", {})
    conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
    return st.get("readyReplicas") == replicas and conds.get("Available") == "True"


def pods_of(api: Any, name: str) -> list[Any]:
    from kubernetes import client

    sel = f"leaderworkerset.sigs.k8s.io/name={name}"
    return list(client.CoreV1Api(api).list_namespaced_pod(NS, label_selector=sel).items)


def kubectl_path(stack: Stack) -> Path:
    return Path(stack.info["bin_dir"]) / "kubectl"


@contextlib.contextmanager
def running_stack(
    lws_version: str = build.LWS_VERSION, kueue: bool = False, karpenter: bool = False, nodes: int = 4
) -> Iterator[Stack]:
    """A stack of its own for this pytest process and LWS release (with Kueue's manager if ``kueue``, with
    Karpenter's KWOK provider if ``karpenter``; ``nodes`` static nodes), stopped (by PID) whatever happens."""
    suffix = "" if lws_version == build.LWS_VERSION else f"{lws_version}-"
    suffix += "kueue-" if kueue else ""
    suffix += "karpenter-" if karpenter else ""
    # The PID stays the last segment of the folder name: _reap_orphans reads it.
    stack = Stack(build.cache_root() / f"emulator-e2e-{suffix}{os.getpid()}")
    opts = Options(
        node_spec=NodeSpec(count=nodes, gpus_per_node=8, topology={RACK: 2}),
        timeout_s=240,
        lws_version=lws_version,
        kueue=kueue,
        karpenter=karpenter,
    )

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    atexit.register(stack.down)
    try:
        t0 = time.monotonic()
        stack.up(opts)
        print(f"\nemulator (LWS {lws_version}) up in {time.monotonic() - t0:.1f}s: {stack.kubeconfig}")
        yield stack
    finally:
        stack.down()
        atexit.unregister(stack.down)
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def lws_maker(api: Any) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Create LeaderWorkerSets; delete them and wait their pods away afterwards."""
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


def observe_at_times(
    api: Any,
    entries: list[tuple[float, dict[str, Any]]],
    create: Callable[[dict[str, Any]], Any],
    make_builder: Callable[[float], Any],
    until: float,
) -> Any:
    """Create each ``(at, doc)`` at its time (same-time objects in the given order) while
    ``lwssim.kube.observe`` records into ``make_builder(t0)``'s builder, until ``until`` seconds after the
    first create; returns the Timeline."""
    from lwssim.kube.observe import observe

    pending = sorted(entries, key=lambda e: e[0])  # stable: same-time objects in file order
    t0 = time.time()
    builder = make_builder(t0)

    def progress(_b: Any, now: float) -> None:
        while pending and now - t0 >= pending[0][0]:
            create(pending.pop(0)[1])

    progress(builder, t0)  # the objects of time 0, before the watch starts
    timeline, _ = observe(
        api,
        NS,
        builder,
        timeout=until + 30,
        progress=progress,
        stop_when=lambda _b: time.time() - t0 >= until,
    )
    return timeline
