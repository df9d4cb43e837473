"""One simulated cluster: every component on one SimPy environment and seeded NumPy generators."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from functools import partial

import numpy as np

from lwssim.engine.cluster_autoscaler import ClusterAutoscaler
from lwssim.engine.context import ApiCalls, Cluster
from lwssim.engine.deployment import DeploymentController, template_hash
from lwssim.engine.disruption import DisruptionController
from lwssim.engine.environment import Environment
from lwssim.engine.faults import FaultInjector
from lwssim.engine.job import JobController
from lwssim.engine.karpenter import Karpenter
from lwssim.engine.kubelet import Kubelets
from lwssim.engine.kueue import Kueue
from lwssim.engine.lws import LWSControllers
from lwssim.engine.lws.labels import revision_key
from lwssim.engine.nodes import NodeLifecycle
from lwssim.engine.nodetable import NodeTable
from lwssim.engine.objects import (
    RUNNING,
    Deployment,
    Job,
    LeaderWorkerSet,
    Obj,
    Pod,
    PodDisruptionBudget,
    StatefulSet,
)
from lwssim.engine.replicaset import PodCreator, ReplicaSetController
from lwssim.engine.scheduling.framework import Scheduler
from lwssim.engine.scheduling.gang import VOLCANO, VolcanoScheduler
from lwssim.engine.statefulset import StatefulSetController
from lwssim.model.autoscaling import CLUSTER_AUTOSCALER
from lwssim.model.cluster import Node, expand_pool
from lwssim.model.pod import PodTemplate
from lwssim.model.quantity import GPU
from lwssim.model.scenario import MAX_UNAVAILABLE_STATEFULSET, PatchEvent, ScaleEvent, Scenario
from lwssim.model.timing import Distribution
from lwssim.model.workloads import (
    DEPLOYMENT,
    INDEXED,
    JOB,
    ORDERED_READY,
    POD,
    STATEFULSET,
    DisruptionBudget,
    PodWorkload,
)
from lwssim.timeline import POD_CREATED, ROLLOUT_STARTED, SCALED, Timeline, WorkloadInfo


def check_supported(scenario: Scenario) -> None:
    """Refuse what the engine cannot represent instead of approximating it silently. Pods of different
    priorities are represented: kube-scheduler's preemption is modelled (scheduling/preemption.py)."""


def gang_warnings(scenario: Scenario) -> list[str]:
    """Gang scheduling only applies to pods that name the gang scheduler (docs/lws-v0.7-semantics.md §4)."""
    out = []
    for w in scenario.workloads:
        for role, t in (("leader", w.lws.effective_leader_template), ("worker", w.lws.worker_template)):
            if t.scheduler_name != VOLCANO:
                out.append(
                    f"{w.name}: gangScheduling is volcano but its {role} pods name schedulerName "
                    f'"{t.scheduler_name}": the real cluster would not gang-schedule them'
                )
    return out


class Streams:
    """Independent random streams per component, so that e.g. fault draws never shift timing draws;
    spawned from the run's seed in this order (changing it changes every seeded result)."""

    def __init__(self, seed: int) -> None:
        scheduler, kubelets, faults, api, nodes = np.random.SeedSequence(seed).spawn(5)
        self.scheduler = np.random.default_rng(scheduler)
        self.kubelets = np.random.default_rng(kubelets)
        self.faults = np.random.default_rng(faults)
        self.api = np.random.default_rng(api)
        self.nodes = np.random.default_rng(nodes)  # an autoscaler's provisioning delays and stockouts


def _spare_rows(scenario: Scenario) -> list[Node]:
    """Node table rows for the nodes an autoscaler may add: each autoscaled pool's ``max − count``."""
    spare: list[Node] = []
    for pool in scenario.cluster.pools:
        if pool.max_count is not None and scenario.cluster.autoscaling.enabled:
            spare.extend(expand_pool(pool, pool.count, pool.max_count))
    return spare


def _timeline(scenario: Scenario, seed: int) -> Timeline:
    """An empty Timeline headed with what the run simulates."""
    nodes = scenario.cluster.nodes
    return Timeline(
        horizon=scenario.horizon,
        workloads=[
            WorkloadInfo(w.name, w.namespace, w.kind, w.lws.name, w.lws.replicas, w.lws.size)
            for w in scenario.workloads
        ]
        + [WorkloadInfo(p.name, p.namespace, p.kind, "", p.replicas, 1) for p in scenario.pod_workloads],
        cluster={
            "nodes": len(nodes),
            "gpus": sum(dict(n.allocatable).get(GPU, 0) for n in nodes),
            "pools": {p.name: p.count for p in scenario.cluster.pools},
            **_queues(scenario),
            **_autoscaled(scenario),
        },
        scenario=scenario.name,
        seed=seed,
    )


def _autoscaled(scenario: Scenario) -> dict:
    """With autoscaling: its provider (the report reads whether there is one), and the GPUs of the nodes
    there at the start (a deleted one stops counting as provisioned)."""
    if not scenario.cluster.autoscaling.enabled:
        return {}
    per_node = {n.name: dict(n.allocatable).get(GPU, 0) for n in scenario.cluster.nodes}
    return {
        "autoscaling": scenario.cluster.autoscaling.provider,
        "gpusPerNode": {k: v for k, v in per_node.items() if v},
    }


def _queues(scenario: Scenario) -> dict:
    """Kueue's ClusterQueues' nominal quota ("flavor/resource" -> amount), when Kueue manages LWS."""
    if not scenario.kueue.config.manages_lws:
        return {}
    return {
        "clusterQueues": {
            cq.name: {
                f"{f.flavor}/{r.name}": r.nominal
                for g in cq.resource_groups
                for f in g.flavors
                for r in f.resources
            }
            for cq in scenario.kueue.cluster_queues
        }
    }


class World:
    """The simulated cluster for one run of a scenario."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        check_supported(scenario)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        streams = Streams(self.seed)
        self.timeline = _timeline(scenario, self.seed)
        nodes = NodeTable(list(scenario.cluster.nodes), spare=_spare_rows(scenario))
        cluster = self.cluster = Cluster(Environment(), nodes, self.timeline, _api_calls(scenario, streams))
        self.env, self.store, self.gc, self.nodes = cluster.env, cluster.store, cluster.gc, cluster.nodes
        self._components(streams)
        self._scenario_objects()

    def _components(self, streams: Streams) -> None:
        """Every component on the cluster, in a fixed order: the order of their watches and first
        events is part of what a seed reproduces."""
        scenario, cluster = self.scenario, self.cluster
        self.scheduler = Scheduler(
            cluster,
            streams.scheduler,
            scenario.timing.scheduling_throughput,
            scenario.controller.scoring_strategy,
            gang_schedulers=(VOLCANO,) if scenario.controller.gang_scheduling == VOLCANO else (),
        )
        if scenario.controller.gang_scheduling == VOLCANO:
            self.volcano = VolcanoScheduler(cluster, self.scheduler)
            self.timeline.warnings.extend(gang_warnings(scenario))
        self.kubelets = Kubelets(cluster, scenario.timing, streams.kubelets)
        self.statefulsets = StatefulSetController(
            cluster,
            max_unavailable_gate=scenario.controller.gate(MAX_UNAVAILABLE_STATEFULSET),
            gpu_of=_gpus_of_template(),
        )
        self.lws = LWSControllers(cluster, scenario.controller)
        if scenario.kueue.config.manages_lws:
            # Built only when Kueue manages LeaderWorkerSets: other scenarios run exactly as before.
            self.kueue = Kueue(cluster, scenario.kueue)
        autoscaling = scenario.cluster.autoscaling
        if autoscaling.provider == CLUSTER_AUTOSCALER:
            self.cluster_autoscaler = ClusterAutoscaler(
                cluster,
                self.scheduler,
                autoscaling.cluster_autoscaler,
                list(scenario.cluster.pools),
                scenario.timing.node_provisioning,
                streams.nodes,
                self._is_down,
            )
        elif autoscaling.enabled:
            self.karpenter = Karpenter(
                cluster,
                self.scheduler,
                autoscaling,
                list(scenario.cluster.pools),
                scenario.timing.node_provisioning,
                streams.nodes,
                self._is_down,
            )
        faults = scenario.faults
        self.node_lifecycle = NodeLifecycle(
            cluster,
            self.kubelets,
            self._node_changed(),
            grace_period=faults.node_monitor_grace_period,
            force_delete_after=faults.force_delete_after,
            keep_images=faults.repaired_nodes_keep_images,
        )
        if scenario.pod_workloads or scenario.budgets:
            # Built only when there is something for them to do: a scenario of LeaderWorkerSets alone
            # runs exactly as before they existed (same events, same seeded results).
            gpus = _gpus_of_template()
            self.disruption = DisruptionController(cluster)
            self.deployments = DeploymentController(cluster)
            self.replicasets = ReplicaSetController(cluster, PodCreator(cluster, gpus))
            self.jobs = JobController(cluster, PodCreator(cluster, gpus))
            self._gpus = gpus
        self.fault_rng = streams.faults
        self.faults = FaultInjector(
            cluster,
            self.kubelets,
            self.node_lifecycle,
            faults,
            self.fault_rng,
            sorted({w.namespace for w in scenario.workloads}),
        )

    def _is_down(self, i: int) -> bool:
        """Whether node ``i`` stopped answering (the node lifecycle, built after the autoscalers)."""
        return self.node_lifecycle.is_down(i)

    def _node_changed(self) -> Callable[[int], None]:
        """Who hears of a node's taints changing: kube-scheduler, and Kueue's TAS node controller."""
        kueue = getattr(self, "kueue", None)
        if kueue is None:
            return self.scheduler.node_changed
        scheduler_changed, kueue_changed = self.scheduler.node_changed, kueue.node_changed

        def changed(i: int) -> None:
            scheduler_changed(i)
            kueue_changed(i)

        return changed

    def _scenario_objects(self) -> None:
        """What the scenario puts on the cluster: running pods, its LeaderWorkerSets, scripted changes."""
        self._place_existing_pods()
        for w in self.scenario.workloads:
            self._at(w.at, partial(self._create_lws, w.name, w.lws))
        for b in self.scenario.budgets:
            self._at(b.at, partial(self._create_budget, b))
        for p in self.scenario.pod_workloads:
            self._at(p.at, partial(self._create_pod_workload, p))
        for scale in self.scenario.scales:
            self.env.process(self._scale(scale))
        for patch in self.scenario.patches:
            self.env.process(self._patch(patch))

    def _place_existing_pods(self) -> None:
        """Pods from a snapshot already run where they are: they hold resources and count for affinity."""
        for p in self.scenario.cluster.existing_pods:
            pod = Pod(
                kind="Pod",
                name=p.name,
                namespace=p.namespace,
                labels=dict(p.template.labels),
                template=p.template,
                node=p.node,
                phase=RUNNING,
                started=True,
                ready=True,
                affinity=p.template.pod_affinity,
                anti_affinity=p.template.pod_anti_affinity,
            )
            self.store.create(pod)

    def _at(self, t: float, create: Callable[[], None]) -> None:
        """``spec.workloads[].at``: a later ``kubectl apply``."""
        if t <= 0:
            create()
        else:
            self.cluster.defer(t, create)

    def _create_budget(self, b: DisruptionBudget) -> None:
        self.store.create(
            PodDisruptionBudget(
                kind="PodDisruptionBudget",
                name=b.name,
                namespace=b.namespace,
                selector=b.selector,
                min_available=b.min_available,
                max_unavailable=b.max_unavailable,
            )
        )

    def _create_pod_workload(self, p: PodWorkload) -> None:
        """The object as ``kubectl apply`` creates it; its controller makes the pods."""
        t, labels = p.template, dict(p.labels)
        if p.kind == DEPLOYMENT:
            obj: Obj = Deployment(
                kind=DEPLOYMENT,
                name=p.name,
                namespace=p.namespace,
                labels=labels,
                template=t,
                replicas=p.replicas,
                workload=p.name,
            )
        elif p.kind == STATEFULSET:
            rev = f"{p.name}-{template_hash(t)}"
            obj = StatefulSet(
                kind=STATEFULSET,
                name=p.name,
                namespace=p.namespace,
                labels=labels,
                template=t,
                replicas=p.replicas,
                update_revision=rev,
                current_revision=rev,
                revision_templates={rev: t},
                workload=p.name,
                ordered=p.pod_management == ORDERED_READY,
            )
        elif p.kind == JOB:
            obj = Job(
                kind=JOB,
                name=p.name,
                namespace=p.namespace,
                labels=labels,
                template=t,
                parallelism=p.replicas,
                completions=p.completions,
                indexed=p.completion_mode == INDEXED,
                backoff_limit=p.backoff_limit,
                run_duration=p.run_duration,
                workload=p.name,
            )
        else:
            pod = Pod(
                kind=POD,
                name=p.name,
                namespace=p.namespace,
                labels=labels,
                annotations=dict(t.annotations),
                template=t,
                workload=p.name,
                affinity=t.pod_affinity,
                anti_affinity=t.pod_anti_affinity,
            )
            if self.store.create(pod):
                pod.record(self.timeline, self.env.now, POD_CREATED, gpus=self._gpus(pod))
            return
        self.store.create(obj)

    def _create_lws(self, workload: str, spec) -> None:
        rev = revision_key(spec)
        lws = LeaderWorkerSet(
            kind="LeaderWorkerSet",
            name=spec.name,
            namespace=spec.namespace,
            labels=dict(spec.labels),
            annotations=dict(spec.annotations),
            spec=spec,
            workload=workload,
            revision=rev,
            revisions={rev: spec},
        )
        self.store.create(lws)

    def _get_lws(self, workload: str) -> LeaderWorkerSet:
        w = self.scenario.workload(workload)
        assert w is not None
        lws = self.store.get("LeaderWorkerSet", f"{w.namespace}/{w.lws.name}")
        assert isinstance(lws, LeaderWorkerSet)
        return lws

    def _scale(self, event: ScaleEvent):
        yield self.env.timeout(event.at)
        lws = self._get_lws(event.workload)
        assert lws.spec is not None
        lws.spec = replace(lws.spec, replicas=event.replicas)
        lws.revisions[lws.revision] = replace(lws.revisions[lws.revision], replicas=event.replicas)
        self.timeline.add(self.env.now, SCALED, lws.name, event.workload, replicas=event.replicas)
        self.store.update(lws)

    def _patch(self, event: PatchEvent):
        """A new spec: only leaderWorkerTemplate and networkConfig changes make a new revision (§1.3)."""
        yield self.env.timeout(event.at)
        lws = self._get_lws(event.workload)
        assert lws.spec is not None
        if event.lws.replicas != lws.spec.replicas:
            self.timeline.add(self.env.now, SCALED, lws.name, event.workload, replicas=event.lws.replicas)
        rev = revision_key(event.lws)
        lws.spec = event.lws
        if rev != lws.revision:
            lws.revision = rev
            lws.template_changed = True
            self.timeline.add(self.env.now, ROLLOUT_STARTED, lws.name, event.workload, revision=rev)
        lws.revisions[rev] = event.lws
        self.store.update(lws)

    def run(self) -> Timeline:
        with _quiet_gc():
            self.env.run(until=self.scenario.horizon)
        return self.timeline


@contextmanager
def _quiet_gc() -> Iterator[None]:
    """No cyclic-GC passes while simulating. A run allocates millions of short-lived objects (SimPy
    events, records, pods) that reference counting frees, as nothing here forms reference cycles that
    outlive an event (a waiting task and its timeout release each other when the timeout fires); yet
    every collection walks the young heap, about 3 % of a long run. Collection resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _gpus_of_template() -> Callable[[Pod], int]:
    """GPUs a pod requests, computed once per placement (every pod creation records it)."""
    known: dict[PodTemplate, int] = {}

    def gpus(pod: Pod) -> int:
        placement = pod.template.placement
        count = known.get(placement)
        if count is None:
            count = known[placement] = placement.requests().get(GPU, 0)
        return count

    return gpus


def simulate(scenario: Scenario, seed: int | None = None) -> Timeline:
    """Run ``scenario`` once and return what happened."""
    return World(scenario, seed).run()


def _api_calls(scenario: Scenario, streams: Streams) -> ApiCalls:
    """The API stream serves API latencies only, so they can be drawn in blocks; kinds of call that share
    one distribution share one sampler (one sequence of draws, as when a single one is given)."""
    latency = scenario.timing.api_latency
    kinds = [getattr(latency, f.name) for f in fields(latency)]  # in ApiCalls' order
    samplers: dict[Distribution, Callable[[], float]] = {}
    for d in kinds:
        if d not in samplers:
            samplers[d] = d.sampler(streams.api)
    return ApiCalls(*(samplers[d] for d in kinds))
