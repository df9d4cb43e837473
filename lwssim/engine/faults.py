"""Faults of the scenario's ``spec.faults``: random node, domain and container failures, and scripted ones.

Random failures are Poisson processes drawn from the run's fault generator, one process per kind for
the whole fleet (no per-node timers, so a simulated year costs O(failures)):
- node failures at ``ratePerNodeDay`` per node: fleet inter-arrival Exp(N·rate), a uniformly drawn
  node; a node already down, or a row of the node table an autoscaler has no node in, is skipped (thinning
  keeps the rate per *up* node). The cause is drawn
  from the cause mix (default: Llama 3 paper, Table 5; docs/defaults.md) and sets the repair time and the
  effect: ``nodeDown`` (the node is replaced or repaired and returns without images unless
  ``repairedNodesKeepImages``) or ``reboot`` (it returns with its images);
- domain failures at ``ratePerDomainDay`` per domain of a label key: every node of the domain
  (engine/domains.py) goes down together and returns together;
- container crashes (GPU Xid errors, OOM kills) at ``ratePerPodDay`` per running pod: thinning over
  an upper bound of running pods, so the rate follows the pods that actually run.
Every fault writes a ``Fault`` record (type, target, cause, id); what it hit is computed by the report.
"""

from __future__ import annotations

import bisect

import numpy as np

from lwssim.engine.context import Cluster
from lwssim.engine.domains import FailureDomains
from lwssim.engine.kubelet import Kubelets
from lwssim.engine.lws.intstr import scaled
from lwssim.engine.nodes import NodeLifecycle, delete_pod
from lwssim.engine.objects import LeaderWorkerSet, Pod
from lwssim.engine.tasks import Task
from lwssim.model.scenario import DomainFailures, Faults, NodeFailures, ScriptedFault
from lwssim.timeline import FAULT

DAY = 86400.0
CONTAINER_CRASH = "containerCrash"
CRASH_CAUSES = ("gpu-xid-error", "oom-killed")  # what a random container exit stands for


class FaultInjector:
    def __init__(
        self,
        cluster: Cluster,
        kubelets: Kubelets,
        lifecycle: NodeLifecycle,
        faults: Faults,
        rng: np.random.Generator,
        namespaces: list[str],
    ) -> None:
        """Faults hit nodes through ``lifecycle`` and containers through ``kubelets``; scripted pod
        faults look pods up by name in ``namespaces``."""
        self.cluster = cluster
        env = self.env = cluster.env
        self.store, self.nodes, self.timeline = cluster.store, cluster.nodes, cluster.timeline
        self.kubelets, self.lifecycle = kubelets, lifecycle
        self.faults, self.rng = faults, rng
        self.namespaces = namespaces
        self._next_id = 0
        keys = [d.key for d in faults.domain_failures] + [s.domain[0] for s in faults.scripted if s.domain]
        self.domains = FailureDomains(self.nodes, sorted(set(keys))) if keys else None
        self._domains_down: set[tuple[str, str]] = set()
        if (
            faults.node_failures is not None
            and faults.node_failures.rate_per_node_day > 0
            and len(self.nodes)
        ):
            Task(env, self._node_failures(faults.node_failures))
        for spec in faults.domain_failures:
            if spec.rate_per_domain_day > 0:
                Task(env, self._domain_failures(spec))
        if faults.container_crashes_per_pod_day > 0:
            Task(env, self._container_crashes(faults.container_crashes_per_pod_day))
        if faults.scripted:
            Task(env, self._scripted(faults.scripted))

    def _record(self, kind: str, target: str, cause: str = "", pod: Pod | None = None, **data) -> int:
        self._next_id += 1
        self.timeline.add(
            self.env.now,
            FAULT,
            target,
            pod.workload if pod else "",
            pod.group if pod else -1,
            pod.role if pod else "",
            type=kind,
            cause=cause,
            fault=self._next_id,
            **data,
        )
        return self._next_id

    # -- random node failures
    def _node_failures(self, spec: NodeFailures):
        n = len(self.nodes)
        rate = n * spec.rate_per_node_day / DAY
        causes = spec.causes
        # The cause is drawn as Generator.choice(len(causes), p=weights) draws it: one uniform
        # against the normalised cumulative weights, searched from the right (same draws, cheaper).
        weights = np.array([c.weight for c in causes], dtype=float)
        cdf = np.cumsum(weights / weights.sum()) if causes else weights
        cdf = (cdf / cdf[-1]).tolist() if causes else []
        while True:
            yield self.env.timeout(float(self.rng.exponential(1.0 / rate)))
            i = int(self.rng.integers(n))
            if causes:
                cause = causes[bisect.bisect_right(cdf, self.rng.random())]
                name, repair, effect = cause.name, cause.repair.sample(self.rng), cause.effect
            else:
                name, repair, effect = "unknown", spec.repair.sample(self.rng), "nodeDown"
            if self.lifecycle.is_down(i) or not self.nodes.present[i]:
                continue  # thinning: the rate is per node that runs (an autoscaler's spare rows are none)
            fault = self._record(
                "nodeFailure", self.nodes.names[i], name, effect=effect, repairSeconds=repair
            )
            self.lifecycle.down(i, name, fault)
            keep = True if effect == "reboot" else None
            Task(self.env, self._repair([i], repair, keep))

    def _repair(self, indices: list[int], after: float, keep_images: bool | None, domain=None):
        yield self.env.timeout(after)
        if domain is not None:
            self._domains_down.discard(domain)
        for i in indices:
            self.lifecycle.up(i, keep_images)

    # -- correlated failures
    def _domain_failures(self, spec: DomainFailures):
        assert self.domains is not None
        domains = self.domains.domains(spec.key)
        if not domains:
            return
        rate = len(domains) * spec.rate_per_domain_day / DAY
        while True:
            yield self.env.timeout(float(self.rng.exponential(1.0 / rate)))
            domain = domains[int(self.rng.integers(len(domains)))]
            repair = spec.repair.sample(self.rng)
            if domain in self._domains_down:
                continue
            self._domain_down(domain, "domainFailure", "domain")
            Task(self.env, self._repair(self.domains.nodes_of(domain), repair, None, domain))

    def _domain_down(self, domain: tuple[str, str], kind: str, cause: str) -> None:
        assert self.domains is not None
        self._domains_down.add(domain)
        nodes = self.domains.nodes_of(domain)
        fault = self._record(kind, f"{domain[0]}={domain[1]}", cause, nodes=len(nodes))
        for i in nodes:
            self.lifecycle.down(i, cause, fault)

    # -- container crashes
    def _container_crashes(self, rate_per_pod_day: float):
        live = self.kubelets.live
        while True:
            bound = max(2 * self._desired_pods(), len(live), 1)
            yield self.env.timeout(float(self.rng.exponential(DAY / (rate_per_pod_day * bound))))
            k = int(self.rng.integers(bound))
            cause = CRASH_CAUSES[int(self.rng.integers(len(CRASH_CAUSES)))]
            if k >= len(live):
                continue
            pod = live.pods[k]
            self._record(CONTAINER_CRASH, pod.name, cause, pod)
            self.kubelets.crash(pod, cause)

    def _desired_pods(self) -> int:
        total = 0
        for lws in self.store.list("LeaderWorkerSet"):
            if isinstance(lws, LeaderWorkerSet) and lws.spec is not None:
                spec = lws.spec
                surge = min(scaled(spec.rolling_update.max_surge, spec.replicas, True), spec.replicas)
                total += (spec.replicas + surge) * spec.size
        return total

    # -- scripted faults
    def _scripted(self, faults: tuple[ScriptedFault, ...]):
        for fault in faults:
            if fault.at > self.env.now:
                yield self.env.timeout(fault.at - self.env.now)
            self.apply(fault)

    def find_pod(self, name: str) -> Pod | None:
        for ns in self.namespaces:
            pod = self.store.get("Pod", f"{ns}/{name}")
            if isinstance(pod, Pod):
                return pod
        return None

    def apply(self, fault: ScriptedFault) -> None:
        kind = fault.kind
        if kind in ("podCrash", "podDelete"):
            assert fault.pod is not None
            pod = self.find_pod(fault.pod)
            if kind == "podCrash":
                self._record(kind, fault.pod, "scripted", pod)
                if pod is not None:
                    self.kubelets.crash(pod, "Error")
            else:
                self._record(kind, fault.pod, "scripted", pod)
                if pod is not None:  # kubectl delete pod: background propagation
                    delete_pod(self.cluster, pod, "deleted")
        elif kind in ("nodeDown", "nodeUp"):
            node = fault.node
            if fault.pod is not None:
                pod = self.find_pod(fault.pod)
                node = pod.node if pod is not None else None
            if node is None:
                self._record(kind, f"pod/{fault.pod}", "scripted", note="pod not bound to a node")
                return
            i = self.nodes.index[node]
            fid = self._record(kind, node, "scripted")
            if kind == "nodeDown":
                self.lifecycle.down(i, "scripted", fid)
            else:
                self.lifecycle.up(i, force=True)
        else:
            assert fault.domain is not None
            if self.domains is None:
                return
            if kind == "domainDown":
                if fault.domain not in self._domains_down:
                    self._domain_down(fault.domain, kind, "scripted")
            else:
                self._record(kind, f"{fault.domain[0]}={fault.domain[1]}", "scripted")
                self._domains_down.discard(fault.domain)
                for i in self.domains.nodes_of(fault.domain):
                    self.lifecycle.up(i)
