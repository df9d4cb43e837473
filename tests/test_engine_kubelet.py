"""Kubelet rules: image cache and serialized pulls, startup phases, per-role timing, seeded sampling.

References: kubelet image manager (imagePullPolicy IfNotPresent), KubeletConfiguration
``serializeImagePulls: true`` default (kubernetes/kubernetes v1.34.4
pkg/kubelet/apis/config/v1beta1/defaults.go), the scenario's ``timing`` block (README).
"""

from __future__ import annotations

import pytest
from support import first_t, lws, pool, recs, run, scenario_doc

from lwssim.timeline import POD_CONTAINERS_STARTED, POD_INITIALIZED, POD_READY, POD_SCHEDULED

TIMING = {"imagePull": {"cold": "60s", "cached": "5s"}, "containerStart": "2s", "modelLoad": "100s"}


def pull_time(tl, name: str) -> float:
    return first_t(tl, POD_INITIALIZED, name) - first_t(tl, POD_SCHEDULED, name)


def test_image_pulled_once_per_node_later_pod_takes_cached_time() -> None:
    """IfNotPresent: the second pod of an image on a node that has it takes ``imagePull.cached``."""
    doc = scenario_doc(
        [pool(count=1, gpus=16)],
        [lws(replicas=1, size=1)],
        timing=TIMING,
        events=[{"at": "10m", "scale": {"workload": "llm", "replicas": 2}}],
    )
    _, tl = run(doc)
    assert pull_time(tl, "llm-0") == pytest.approx(60.0)
    assert first_t(tl, POD_SCHEDULED, "llm-1") >= 600
    assert pull_time(tl, "llm-1") == pytest.approx(5.0)


def test_other_node_pulls_cold() -> None:
    """The image cache is per node: the same image on a fresh node is a cold pull."""
    doc = scenario_doc([pool(count=2)], [lws(replicas=2, size=1)], timing=TIMING)
    _, tl = run(doc)
    assert pull_time(tl, "llm-0") == pytest.approx(60.0)
    assert pull_time(tl, "llm-1") == pytest.approx(60.0)


def test_pulls_are_serialized_per_node() -> None:
    """serializeImagePulls: two different images on one node take two pulls back to back."""
    doc = scenario_doc(
        [pool(count=1, gpus=16)],
        [lws("a", size=1, image="img:a"), lws("b", size=1, image="img:b")],
        timing=TIMING,
    )
    _, tl = run(doc)
    done = sorted(first_t(tl, POD_INITIALIZED, n) for n in ("a-0", "b-0"))
    assert done[0] == pytest.approx(60.0, abs=0.1)
    assert done[1] == pytest.approx(120.0, abs=0.1)


def test_same_image_pods_on_one_node_share_the_pull() -> None:
    """Two pods of one image on one node: one cold pull; the second waits for it, then finds the image."""
    doc = scenario_doc([pool(count=1, gpus=16)], [lws(replicas=2, size=1)], timing=TIMING)
    _, tl = run(doc)
    done = sorted(first_t(tl, POD_INITIALIZED, n) for n in ("llm-0", "llm-1"))
    assert done[0] == pytest.approx(60.0, abs=0.1)
    assert done[1] == pytest.approx(65.0, abs=0.1)  # cached 5 s after the shared pull, not a second 60 s


def test_phases_container_start_then_model_load_until_ready() -> None:
    """containerStart: images ready → Running; modelLoad: Running → Ready (schema.py ``timing``)."""
    doc = scenario_doc([pool(count=2)], [lws(size=2)], timing=TIMING)
    _, tl = run(doc)
    for name in ("llm-0", "llm-0-1"):
        started = first_t(tl, POD_CONTAINERS_STARTED, name)
        assert started - first_t(tl, POD_INITIALIZED, name) == pytest.approx(2.0)
        assert first_t(tl, POD_READY, name) - started == pytest.approx(100.0)


def test_per_role_override_leader_model_load() -> None:
    """timing.leader.modelLoad overrides modelLoad for leaders only (schema.py ``timing.leader``)."""
    doc = scenario_doc([pool(count=2)], [lws(size=2)], timing={**TIMING, "leader": {"modelLoad": "300s"}})
    _, tl = run(doc)
    load = {
        n: first_t(tl, POD_READY, n) - first_t(tl, POD_CONTAINERS_STARTED, n) for n in ("llm-0", "llm-0-1")
    }
    assert load == {"llm-0": pytest.approx(300.0), "llm-0-1": pytest.approx(100.0)}


def test_per_role_override_worker_image_pull() -> None:
    doc = scenario_doc(
        [pool(count=2)], [lws(size=2)], timing={**TIMING, "worker": {"imagePull": {"cold": "200s"}}}
    )
    _, tl = run(doc)
    assert pull_time(tl, "llm-0") == pytest.approx(60.0)
    assert pull_time(tl, "llm-0-1") == pytest.approx(200.0)


def _ready_times(seed: int) -> list[tuple[str, float]]:
    doc = scenario_doc(
        [pool(count=6)],
        [lws(replicas=3, size=2)],
        timing={
            "imagePull": {"cold": {"uniform": {"min": "60s", "max": "120s"}}},
            "containerStart": {"normal": {"mean": "2s", "stddev": "1s"}},
            "modelLoad": {"lognormal": {"median": "100s", "sigma": 0.3}},
        },
    )
    _, tl = run(doc, seed=seed)
    return [(r.subject, r.t) for r in recs(tl, POD_READY)]


def test_distributions_sampled_deterministically_per_seed() -> None:
    """One seeded generator per run (docs/design.md, Determinism): same seed, same draws; another seed
    differs."""
    a, b, c = _ready_times(3), _ready_times(3), _ready_times(4)
    assert a == b
    assert a != c
    assert len(a) == 6


def test_uniform_pull_draws_stay_in_range() -> None:
    doc = scenario_doc(
        [pool(count=4)],
        [lws(replicas=4, size=1)],
        timing={"imagePull": {"cold": {"uniform": {"min": "60s", "max": "120s"}}}},
    )
    _, tl = run(doc, seed=11)
    pulls = [pull_time(tl, f"llm-{g}") for g in range(4)]
    assert all(60.0 <= p <= 120.0 for p in pulls)
    assert len(set(pulls)) == 4
