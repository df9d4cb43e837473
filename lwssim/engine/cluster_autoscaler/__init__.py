"""cluster-autoscaler as a node autoscaler of the simulated cluster: node groups are the pools with ``max``.

kubernetes/autoscaler cluster-autoscaler-1.34.5 ``core/static_autoscaler.go: RunOnce``, every
``scan-interval`` (docs/autoscaling-semantics.md §3): scale-ups that timed out are failed and their group
backed off (``clusterstate.py``); the pods kube-scheduler left Unschedulable that fit neither a ready node
nor an upcoming one (a template node per node asked for and not registered, or registered with the GPU label
but no GPUs yet) are what a scale-up is for (``scaleup.py``); then scale-down: a node of a group above its
min whose utilisation (GPU requests over GPUs for a GPU node, else the larger of cpu and memory) is below
the threshold and whose pods all fit elsewhere is unneeded; unneeded for ``scale-down-unneeded-time`` and
not within ``scale-down-delay-after-add`` of a scale-up, it is deleted (empty ones up to
``max-scale-down-parallelism`` per loop, one to drain at a time: ``core/scaledown/``). An instance the cloud
never delivers (a stockout) is upcoming until the scale-up times out. cluster-autoscaler is not served as a Go
module here, so this model is checked by unit tests of cases read from its source only
(tests/test_cluster_autoscaler.py), not against the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from lwssim.engine.cloud import Cloud, Fleet
from lwssim.engine.cluster_autoscaler.clusterstate import Instance, NodeGroup
from lwssim.engine.cluster_autoscaler.provreq import (
    BOOKING,
    BOOKING_EXPIRED,
    CAPACITY_IS_FOUND,
    CAPACITY_IS_NOT_FOUND,
    CAPACITY_IS_PROVISIONED,
    FAILED_TO_CREATE_POD,
    Request,
    consumes,
    fake_pods,
)
from lwssim.engine.cluster_autoscaler.scaleup import Option, choose, estimate
from lwssim.engine.context import Cluster
from lwssim.engine.nodes import delete_pod
from lwssim.engine.objects import FAILED, SUCCEEDED, Pod
from lwssim.engine.scheduling.framework import SCHEDULING_GATED, Scheduler
from lwssim.engine.store import DELETED
from lwssim.engine.tasks import Task
from lwssim.model.autoscaling import (
    ATOMIC_PROVIDERS,
    CHECK_CAPACITY_CLASS,
    PROVISIONING_CLASSES,
    ClusterAutoscalerConfig,
)
from lwssim.model.cluster import NodePool
from lwssim.model.pod import Taint
from lwssim.model.quantity import GPU
from lwssim.model.timing import NodeProvisioning
from lwssim.timeline import (
    NODE_DELETED,
    NODE_INITIALIZED,
    NODE_LAUNCH_FAILED,
    NODES_NOT_LAUNCHED,
    PROVREQ_BOOKING_EXPIRED,
    PROVREQ_FAILED,
    PROVREQ_NOT_PROVISIONED,
    PROVREQ_PROVISIONED,
)

__all__ = ["ClusterAutoscaler"]

TO_BE_DELETED = Taint("ToBeDeletedByClusterAutoscaler", "", "NoSchedule")  # utils/taints/taints.go
SCALE_UP_TIMED_OUT = "ScaleUpTimedOut"
SCALE_DOWN = "ScaleDown"


@dataclass
class Snapshot:
    """Free resources per column of ready nodes, the rows that count as upcoming, the upcoming nodes' room."""

    free: dict[int, np.ndarray]
    unready: list[int]
    bins: list[tuple[NodeGroup, list[int]]]


class ClusterAutoscaler:
    def __init__(
        self,
        cluster: Cluster,
        scheduler: Scheduler,
        config: ClusterAutoscalerConfig,
        pools: list[NodePool],
        provisioning: NodeProvisioning,
        rng: np.random.Generator,
        is_down: Callable[[int], bool],
    ) -> None:
        self.is_down = is_down
        self.env, self.nodes, self.timeline, self.cluster = (
            cluster.env,
            cluster.nodes,
            cluster.timeline,
            cluster,
        )
        self.scheduler, self.cache, self.config, self.rng = scheduler, scheduler.cache, config, rng
        grown = [p for p in pools if p.autoscaled]
        self.cloud = Cloud(cluster, provisioning, rng, Fleet(cluster, grown), scheduler.node_replaced)
        self.groups = [NodeGroup(p) for p in grown]
        self.pool_row: dict[str, int] = {}
        self.by_node: dict[str, tuple[NodeGroup, Instance]] = {}
        for g in self.groups:
            rows = [i for i in range(len(self.nodes)) if self.nodes.pool[i] == g.name]
            self.pool_row[g.name] = rows[0]
            for i in rows:
                if self.nodes.present[i]:
                    inst = Instance(self.nodes.names[i], 0.0, row=i, gpus_ready=True)
                    g.instances.append(inst)
                    self.by_node[inst.name] = (g, inst)
        self.pending: dict[int, Pod] = {}
        templates = {(t.namespace, t.name): t.template for t in config.pod_templates}
        self.requests: list[Request] = []
        if config.enable_provisioning_requests:
            for k, spec in enumerate(config.provisioning_requests):
                self.requests.append(Request(spec, fake_pods(spec, templates, -1_000_000 * (k + 1))))
        self.provreq_mode = False
        self.why: dict[int, str] = {}  # a pod no scale-up helps -> why (recorded when it changes)
        self.unneeded_since: dict[str, float] = {}
        self.draining: list[tuple[NodeGroup, Instance]] = []
        self.last_scale_up = -np.inf
        scheduler.unschedulable_hooks.append(self._unschedulable)
        cluster.store.watch("Pod", self._on_pod)
        Task(self.env, self._run())

    # -- the pods it helps
    def _unschedulable(self, pod: Pod) -> None:
        if pod.pending_reason != SCHEDULING_GATED:
            self.pending[pod.uid] = pod

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        if pod.uid in self.pending and (event == DELETED or pod.node is not None or pod.deleting):
            del self.pending[pod.uid]
            self.why.pop(pod.uid, None)

    def _run(self):
        while True:
            yield self.env.timeout(self.config.scan_interval)
            self.run_once()

    def run_once(self) -> None:
        now = self.env.now
        self._time_out(now)
        self._finish_drains()
        self._expire_bookings(now)
        helped = self._pods_to_help(now)
        waiting = [r for r in self.requests if r.waiting(now)]
        # wrapper_orchestrator.go: requests and ordinary pods take turns when both wait
        self.provreq_mode = (not self.provreq_mode) if (waiting and helped) else bool(waiting)
        if self.provreq_mode:
            self._provision(waiting, now)
        elif helped:
            self._scale_up(helped, now)
        if self.config.scale_down_enabled:
            self._scale_down(now)

    # -- cluster state
    def _time_out(self, now: float) -> None:
        """``updateScaleRequests``: nodes asked for ``max-node-provision-time`` ago and not registered."""
        for g in self.groups:
            late = [
                i
                for i in g.instances
                if i.row is None and not i.deleting and now - i.asked >= self.config.max_node_provision_time
            ]
            if not late:
                continue
            for inst in late:  # a launched one is billed until now; one never delivered was not
                inst.deleting = True
                g.instances.remove(inst)
                kind = NODE_DELETED if inst.launched else NODE_LAUNCH_FAILED
                self.timeline.add(now, kind, inst.name, pool=g.name, reason=SCALE_UP_TIMED_OUT)
            g.fail(now, self.config)

    # -- the snapshot: ready nodes' free resources, upcoming nodes as template copies, booked capacity
    def _snapshot(self, now: float, skip: Request | None = None) -> Snapshot:
        """What cluster-autoscaler simulates scheduling on: ready nodes (those with the GPU label and no GPUs
        yet count as upcoming), one template node per upcoming node, and the fake pods of the
        ProvisioningRequests whose capacity is booked (but ``skip``'s) already placed."""
        nodes = self.nodes
        snap = Snapshot(
            nodes.free_copy(),
            [i.row for g in self.groups for i in g.upcoming() if i.row is not None],
            [(g, self._room(g, i)) for g in self.groups for i in g.upcoming()],
        )
        for r in self.requests:
            if r is not skip and r.booked():
                for pod in r.pods:
                    self._place(pod, snap)
        return snap

    def _place(self, pod: Pod, snap: Snapshot) -> int | None:
        """Put ``pod`` on the first ready node it fits (its row), else on an upcoming node (-1), else None."""
        cache = self.cache
        shape = cache.shape(pod)
        ok = shape.stage == 0
        if snap.unready:
            ok = ok.copy()
            ok[snap.unready] = False
        for col, need in shape.needs:
            ok = ok & (snap.free[col] >= need)
        hits = np.flatnonzero(ok)
        if len(hits):
            row = int(hits[0])
            for col, need in shape.needs:
                snap.free[col][row] -= need
            return row
        for g, room in snap.bins:
            if all(room[col] >= need for col, need in shape.needs) and cache.passes_static_at(
                pod, self.pool_row[g.name]
            ):
                for col, need in shape.needs:
                    room[col] -= need
                return -1
        return None

    # -- scale-up
    def _pods_to_help(self, now: float) -> list[tuple[Pod, tuple[tuple[int, int], ...]]]:
        """The unschedulable pods that fit no ready node and no upcoming one (``FilterOutSchedulable``),
        booked capacity taken first; pods that consume a ProvisioningRequest are the request's."""
        pods = [p for p in self.pending.values() if p.node is None and not p.deleting and not consumes(p)]
        if not pods:
            return []
        pods.sort(key=lambda p: p.uid)
        snap = self._snapshot(now)
        return [(p, self.cache.shape(p).needs) for p in pods if self._place(p, snap) is None]

    # -- ProvisioningRequests
    def _provision(self, waiting: list[Request], now: float) -> None:
        """One request per loop, check-capacity first (``orchestrator.go``)."""
        r = min(waiting, key=lambda q: (PROVISIONING_CLASSES.index(q.spec.class_name), q.spec.at))
        snap = self._snapshot(now, skip=r)
        left = [(p, self.cache.shape(p).needs) for p in r.pods if self._place(p, snap) is None]
        if not left:
            self._provisioned(r, CAPACITY_IS_FOUND, now)
            return
        if r.spec.class_name == CHECK_CAPACITY_CLASS:
            message = f"{len(left)} of its {len(r.pods)} pods do not fit the cluster as it is"
            if r.spec.no_retry:
                r.failed = True
                self._record(r, PROVREQ_FAILED, now, reason=FAILED_TO_CREATE_POD, message=message)
            else:
                self._not_provisioned(r, CAPACITY_IS_NOT_FOUND, message, now)
            return
        options = self._options(left, now, all_or_nothing=True)
        if not options:
            self._not_provisioned(
                r,
                CAPACITY_IS_NOT_FOUND,
                f"no node group can take all {len(left)} pods it lacks room for",
                now,
            )
            return
        best = self._choose(options)
        atomic = self.config.cloud_provider in ATOMIC_PROVIDERS
        names = tuple(p.name for p in best.pods)
        stockout = None
        for _ in range(best.count):  # AtomicIncreaseSize: one answer for all; IncreaseSize: one per node
            stockout = self._ask(best.group, names, stockout if atomic else None)
            r.nodes.append(best.group.instances[-1].name)
        self.last_scale_up = now
        self._provisioned(r, CAPACITY_IS_PROVISIONED, now)

    def _record(self, r: Request, kind: str, now: float, reason: str, message: str = "") -> None:
        """A condition of ``r`` changed: recorded with its class (and, once provisioned, its nodes)."""
        if kind == PROVREQ_PROVISIONED:
            self.timeline.add(
                now, kind, r.key, class_name=r.spec.class_name, reason=reason, nodes=len(r.nodes)
            )
        else:
            self.timeline.add(now, kind, r.key, class_name=r.spec.class_name, reason=reason, message=message)

    def _provisioned(self, r: Request, reason: str, now: float) -> None:
        r.provisioned_at = now
        self._record(r, PROVREQ_PROVISIONED, now, reason)

    def _not_provisioned(self, r: Request, reason: str, message: str, now: float) -> None:
        r.retry_later(now)
        if r.last_reason != message:
            r.last_reason = message
            self._record(r, PROVREQ_NOT_PROVISIONED, now, reason=reason, message=message)

    def _expire_bookings(self, now: float) -> None:
        for r in self.requests:
            if r.booked() and r.provisioned_at is not None and now - r.provisioned_at >= BOOKING:
                r.booking_expired = True
                self.timeline.add(now, PROVREQ_BOOKING_EXPIRED, r.key, reason=BOOKING_EXPIRED)

    def _room(self, g: NodeGroup, inst: Instance) -> list[int]:
        room = self.cloud.capacity_of(g.pool).tolist()
        if inst.row is not None:
            for pod in self.cache.pods_on(inst.row):
                for col, need in self.cache.needs_of(pod):
                    room[col] -= need
        return room

    def _options(
        self, pods: list[tuple[Pod, tuple[tuple[int, int], ...]]], now: float, all_or_nothing: bool = False
    ) -> list[Option]:
        """Each node group's expansion option for ``pods`` (``ComputeExpansionOption``); with
        ``all_or_nothing`` only those that take every pod. Pods no group takes are told why
        (NoScaleUpInfo)."""
        options: list[Option] = []
        skipped: list[str] = []
        for g in self.groups:
            assert g.pool.max_count is not None
            room = g.pool.max_count - g.target
            if room <= 0:
                skipped.append(f"node group {g.name} is at its max ({g.pool.max_count} nodes)")
                continue
            if g.backed_off(now):
                skipped.append(
                    f"node group {g.name} is backed off for {g.backoff_until - now:.0f}s more after a failed "
                    "scale-up"
                )
                continue
            option = estimate(
                g,
                pods,
                self.cloud.capacity_of(g.pool),
                partial(self._fits_template, self.pool_row[g.name]),
                min(room, self.config.max_nodes_per_scale_up),
            )
            if option is not None and (not all_or_nothing or len(option.pods) == len(pods)):
                options.append(option)
            else:
                skipped.append(f"the pods do not fit node group {g.name}'s template")
        if not all_or_nothing:
            taken = {p.uid for o in options for p in o.pods}
            why = "; ".join(skipped) or "no node group"
            for pod, _ in pods:
                if pod.uid not in taken and self.why.get(pod.uid) != why:  # recorded when it changes
                    pod.record(self.timeline, now, NODES_NOT_LAUNCHED, reason=why)
                    self.why[pod.uid] = why
        return options

    def _choose(self, options: list[Option]) -> Option:
        nodes = self.nodes
        return choose(
            options,
            self.config,
            lambda g: self.cloud.capacity_of(g.pool),
            nodes.cpu_col,
            nodes.mem_col,
            self.rng,
        )

    def _scale_up(self, pods: list[tuple[Pod, tuple[tuple[int, int], ...]]], now: float) -> None:
        options = self._options(pods, now)
        if not options:
            return
        best = self._choose(options)
        names = tuple(p.name for p in best.pods)
        for _ in range(best.count):
            self._ask(best.group, names)
        self.last_scale_up = now

    def _fits_template(self, row: int, pod: Pod) -> bool:
        return self.cache.passes_static_at(pod, row)

    def _ask(self, g: NodeGroup, pods: tuple[str, ...], stockout: bool | None = None) -> bool:
        """One node of a scale-up (``IncreaseSize``): the cloud creates the instance. ``stockout``: the
        answer an atomic increase already got for its first node. Returns whether it found no capacity."""
        inst = Instance(self.cloud.fleet.next_name(g.name), self.env.now, pods=pods)
        g.instances.append(inst)
        vm, drawn = self.cloud.ask(inst.name, g.pool, pods)
        inst.stockout = drawn if stockout is None else stockout
        Task(self.env, self._lifecycle(g, inst, vm))
        return inst.stockout

    def _lifecycle(self, g: NodeGroup, inst: Instance, vm: float):
        env = self.env
        yield env.timeout(vm)
        if inst.stockout or inst.deleting:  # never delivered: upcoming until the scale-up times out
            return
        inst.launched = True
        yield env.timeout(self.cloud.launched(inst.name, g.pool))
        if inst.deleting:
            return
        self.by_node[inst.name] = (g, inst)
        row, lag = self.cloud.register(inst.name, g.pool)
        inst.row = row
        if lag > 0:
            yield env.timeout(lag)
            if inst.deleting:
                return
            self.cloud.gpus_registered(row, g.pool)
        inst.gpus_ready = True
        self.timeline.add(env.now, NODE_INITIALIZED, inst.name, pool=g.name)
        if not any(i.row is None and not i.deleting for i in g.instances):
            g.succeeded()

    # -- scale-down
    def _utilization(self, g: NodeGroup, inst: Instance) -> float:
        """``utilization.Calculate``: GPU requests over GPU allocatable on a GPU node (0 while its GPUs are
        not allocatable), else the larger of cpu and memory requests over allocatable."""
        assert inst.row is not None
        nodes, row = self.nodes, inst.row
        used = np.zeros(len(nodes.resources), dtype=np.int64)
        for pod in self.cache.pods_on(row):
            if pod.phase not in (SUCCEEDED, FAILED):
                for col, need in self.cache.needs_of(pod):
                    used[col] += need
        gpu_col = nodes.res_index.get(GPU)
        if gpu_col is not None and (g.gpu_labelled or self.cloud.gpus_of(g.pool)):
            alloc = nodes.alloc[row, gpu_col]
            return float(used[gpu_col] / alloc) if alloc else 0.0
        return max(
            float(used[col] / nodes.alloc[row, col]) if nodes.alloc[row, col] else 0.0
            for col in (nodes.cpu_col, nodes.mem_col)
        )

    def _threshold(self, g: NodeGroup) -> float:
        gpu = g.gpu_labelled or self.cloud.gpus_of(g.pool)
        c = self.config
        return c.scale_down_gpu_utilization_threshold if gpu else c.scale_down_utilization_threshold

    def _movable(self, inst: Instance, free: dict[int, np.ndarray]) -> bool:
        """Every pod on the node fits on another ready node (the simulation of its drain); the pods it moves
        hold their room on ``free``."""
        assert inst.row is not None
        taken: list[tuple[int, tuple[tuple[int, int], ...]]] = []
        for pod in self.cache.pods_on(inst.row):
            if pod.phase in (SUCCEEDED, FAILED):
                continue
            shape = self.cache.shape(pod)
            ok = shape.stage == 0
            ok = ok.copy()
            ok[inst.row] = False
            for col, need in shape.needs:
                ok &= free[col] >= need
            hits = np.flatnonzero(ok)
            if not len(hits):
                for i, needs in taken:  # give back what the earlier pods took
                    for col, need in needs:
                        free[col][i] += need
                return False
            i = int(hits[0])
            for col, need in shape.needs:
                free[col][i] -= need
            taken.append((i, shape.needs))
        return True

    def _scale_down(self, now: float) -> None:
        """``UpdateClusterState`` every loop (which nodes are unneeded, since when); deletions only out of
        the cooldown after a scale-up."""
        nodes = self.nodes
        # booked capacity holds its nodes: the requests' fake pods placed first (processor.go bookCapacity)
        snap = Snapshot(nodes.free_copy(), [], [])
        held = {
            row
            for r in self.requests
            if r.booked()
            for p in r.pods
            if (row := self._place(p, snap)) is not None
        }
        free = snap.free
        unneeded: dict[str, float] = {}
        for g in self.groups:
            assert g.pool.min_count is not None
            spare = g.target - g.pool.min_count
            for inst in g.instances:
                if spare <= 0:
                    break
                # a node that stopped answering is left to its repair (scale-down-unready-time: not simulated)
                if inst.row is None or inst.deleting or not nodes.present[inst.row] or self.is_down(inst.row):
                    continue
                if inst.row in held:
                    continue
                if self._utilization(g, inst) >= self._threshold(g):
                    continue
                if not self._movable(inst, free):
                    continue
                unneeded[inst.name] = self.unneeded_since.get(inst.name, now)
                spare -= 1
        self.unneeded_since = unneeded
        if now < self.last_scale_up + self.config.scale_down_delay_after_add or self.draining:
            return
        ready = [
            self.by_node[name]
            for name, since in unneeded.items()
            if now - since >= self.config.scale_down_unneeded_time
        ]
        empty = [(g, i) for g, i in ready if not self._pods(i)]
        for g, inst in empty[: self.config.max_scale_down_parallelism]:
            self._delete(g, inst)
        if not empty:
            full = [(g, i) for g, i in ready if self._pods(i)]
            if full:  # max-drain-parallelism 1
                g, inst = full[0]
                self._taint(inst)
                for pod in self._pods(inst):
                    delete_pod(self.cluster, pod, "evicted by cluster-autoscaler scale-down")
                self.draining.append((g, inst))

    def _pods(self, inst: Instance) -> list[Pod]:
        assert inst.row is not None
        return [p for p in self.cache.pods_on(inst.row) if p.phase not in (SUCCEEDED, FAILED)]

    def _taint(self, inst: Instance) -> None:
        assert inst.row is not None
        self.nodes.set_extra_taints(inst.row, (TO_BE_DELETED,))
        self.scheduler.node_changed(inst.row)

    def _finish_drains(self) -> None:
        for g, inst in list(self.draining):
            assert inst.row is not None
            if not self.cache.pods_on(inst.row):
                self.draining.remove((g, inst))
                self._delete(g, inst)

    def _delete(self, g: NodeGroup, inst: Instance) -> None:
        """``DeleteNodes``: the group's target goes down by one, the instance and its Node go."""
        inst.deleting = True
        g.instances.remove(inst)
        self.by_node.pop(inst.name, None)
        self.unneeded_since.pop(inst.name, None)
        self.cloud.remove(inst.name, g.pool, inst.row, SCALE_DOWN)
