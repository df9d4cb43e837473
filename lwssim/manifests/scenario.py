"""``load_scenario``: a scenario file (docs/contract.md "Scenario file") → a validated, typed
:class:`Scenario`.

Order: parse YAML → structural check against the published schema (unknown fields, types, enums) →
convert values (durations, quantities, distributions) → load referenced files (NodeList, manifests) →
resolve names used by faults, events and expectations. Every failure is one InputError naming the file
and field path; the engine never sees unchecked input.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lwssim.errors import InputError, clip
from lwssim.manifests import kueue, llmisvc, lws
from lwssim.manifests import schema as scenario_schema
from lwssim.manifests.limits import (
    MAX_GROUPS,
    MAX_HORIZON_HOURS,
    MAX_NODES,
    MAX_PODS,
    MAX_RANDOM_FAULTS,
    check_at_most,
)
from lwssim.manifests.nodelist import load_nodes
from lwssim.manifests.priority import PriorityAdmission
from lwssim.manifests.where import Where, distribution, show, type_name
from lwssim.manifests.workloads import merge_patch, read_document, replicas_path, with_value
from lwssim.manifests.yamlio import load_documents
from lwssim.model.autoscaling import (
    ATOMIC_CLASS,
    ATOMIC_PROVIDERS,
    CLUSTER_AUTOSCALER,
    WHEN_EMPTY_OR_UNDERUTILIZED,
    Autoscaling,
    ClusterAutoscalerConfig,
    Disruption,
    KarpenterNodePool,
    PodTemplateObject,
    ProvisioningRequest,
)
from lwssim.model.cluster import Cluster, ExistingPod, Node, NodePool, TopologyLevel, expand_pool
from lwssim.model.kueue import LWS_FRAMEWORK, KueueConfig, KueueObjects
from lwssim.model.lws import LeaderWorkerSetSpec, Workload
from lwssim.model.pod import PodTemplate, Taint
from lwssim.model.scenario import (
    ControllerConfig,
    DomainFailures,
    Expectation,
    FailureCause,
    Faults,
    NodeFailures,
    PatchEvent,
    ScaleEvent,
    Scenario,
    ScriptedFault,
)
from lwssim.model.timing import API_CALLS, ApiLatency, Distribution, NodeProvisioning, RoleTiming, Timing
from lwssim.model.workloads import POD, STATEFULSET, DisruptionBudget, PodWorkload, PriorityClass

DEFAULT_HORIZON = 6 * 3600.0
HOSTNAME = "kubernetes.io/hostname"
# Llama 3 paper (Meta, 2024), Table 5: unexpected interruptions by cause, counts out of 419
# (docs/defaults.md).
# Effect is lwssim's reading [derived]: hardware and network faults take the node away until repaired;
# software faults, NCCL watchdog timeouts and unplanned host maintenance return the same node, images kept.
LLAMA3_CAUSES = (
    ("gpu-hardware", 268, "nodeDown"),  # faulty GPU 148, HBM3 72, SRAM 19, GSP 17, SDC 6, thermal 6
    ("software", 56, "reboot"),
    ("network", 42, "nodeDown"),  # switch/cable + NIC
    ("host-maintenance", 32, "reboot"),
    ("nccl-watchdog", 7, "reboot"),
    ("other-host", 14, "nodeDown"),
)


def load_scenario(path: str | Path, lws_version: str | None = None) -> Scenario:
    """Load and validate a scenario file. Raises :class:`InputError` (exit 2) on any bad input.

    ``lws_version`` replaces ``spec.controller.lwsVersion`` before the workloads are admitted, so each
    version's webhook defaults and validation apply (the upgrade what-if, ``check`` per version)."""
    shown = str(path)
    docs = load_documents(Path(path), shown)
    top = Where(shown)
    if len(docs) != 1 or not _claims_scenario(docs[0]):
        raise top.error(_not_a_scenario(docs))
    doc = docs[0]
    if lws_version is not None and isinstance(doc.get("spec"), dict):
        controller = doc["spec"].get("controller")
        doc["spec"]["controller"] = {
            **(controller if isinstance(controller, dict) else {}),
            "lwsVersion": lws_version,
        }
    scenario_schema.check_structure(doc, top)
    return _Loader(Path(path), shown).load(doc)


EXPECTED = f"lwssim {scenario_schema.KIND} ({scenario_schema.API_VERSION})"
MANIFEST_HINTS = {
    lws.KIND: "to simulate it, name it in a scenario's spec.workloads[].file",
    llmisvc.KIND: "to simulate it, name it in a scenario's spec.workloads[].file",
    **{k: "Kueue's objects go in a scenario's spec.workloads[].file" for k in kueue.KINDS},
    "NodeList": "nodes go in a scenario's spec.cluster.nodes",
    "List": "nodes go in a scenario's spec.cluster.nodes, workloads in spec.workloads[].file",
}


def _claims_scenario(doc: Any) -> bool:
    """A mapping that is, or means to be, a Scenario: the schema check then names what is wrong in it."""
    if not isinstance(doc, dict):
        return False
    kind, api = doc.get("kind"), doc.get("apiVersion")
    return kind == scenario_schema.KIND or api == scenario_schema.API_VERSION or not (kind or api)


def _not_a_scenario(docs: list[Any]) -> str:
    """What the file holds instead of a scenario (say an LWS or Deployment manifest), and what goes here."""
    if not docs:
        return f"holds no YAML document; expected a {EXPECTED}"
    kinds = [_object_kind(d) for d in docs]
    if len(docs) == 1:
        what = f"this is {kinds[0]}"
    else:
        what = f"this file holds {len(docs)} documents ({', '.join(kinds[:3])}{', …' * (len(docs) > 3)})"
    first = docs[0].get("kind") if isinstance(docs[0], dict) else None
    hint = MANIFEST_HINTS.get(first) if isinstance(first, str) else None
    return f"{what}, not a {EXPECTED}" + (f"; {hint}" if hint else "")


def _object_kind(doc: Any) -> str:
    if not isinstance(doc, dict):
        return type_name(doc)
    kind, api = (v if isinstance(v, str) else show(v) for v in (doc.get("kind"), doc.get("apiVersion")))
    return f"{clip(kind)} ({clip(api)})"


@dataclass
class _Manifest:
    """One workload document as currently patched, and the workloads derived from it."""

    doc: dict
    where: Where
    source: str
    names: list[str] = field(default_factory=list)


class _Loader:
    def __init__(self, path: Path, shown: str) -> None:
        self.path, self.shown = path, shown
        self.top = Where(shown)
        self.admission = PriorityAdmission()
        self.budgets: list[DisruptionBudget] = []
        self.pod_workloads: list[PodWorkload] = []
        self.kueue = kueue.KueueCollector()
        self.places: dict[str, Where] = {}
        # cluster-autoscaler's ProvisioningRequests and the PodTemplates they name, with where each is
        self.provreqs: list[tuple[ProvisioningRequest, Where]] = []
        self.pod_templates: list[tuple[PodTemplateObject, Where]] = []

    def relative(self, ref: str) -> tuple[Path, str]:
        """A path named in the scenario, resolved against the scenario's directory; also its shown form."""
        if os.path.isabs(ref):
            return Path(ref), ref
        return self.path.parent / ref, os.path.normpath(os.path.join(os.path.dirname(self.shown), ref))

    def load(self, doc: dict) -> Scenario:
        spec_at = self.top.key("spec")
        spec = doc["spec"]
        controller = _controller(spec.get("controller") or {})
        kueue_at = spec_at.key("controller").key("kueue")
        kueue_config = kueue.kueue_config((spec.get("controller") or {}).get("kueue"), kueue_at)
        cluster = self.cluster(spec["cluster"], spec_at.key("cluster"))
        workloads, manifests = self.workloads(spec["workloads"], spec_at.key("workloads"), controller)
        kueue_objects = self.kueue_objects(kueue_config, kueue_at, workloads)
        horizon = DEFAULT_HORIZON
        if spec.get("horizon") is not None:
            horizon = spec_at.key("horizon").duration(spec["horizon"])
            if horizon <= 0:
                raise spec_at.key("horizon").error(f"must be longer than 0s, got {show(spec['horizon'])}")
            hours = math.ceil(horizon / 3600)
            check_at_most(spec_at.key("horizon"), "the horizon", hours, MAX_HORIZON_HOURS, "hours")
        patches, scales = self.events(
            spec.get("events") or [], spec_at.key("events"), workloads, manifests, controller
        )
        bounds = _lws_bounds(workloads, patches, scales)
        pods = _check_pods(bounds, cluster, spec_at.key("workloads"))
        faults = self.faults(spec.get("faults") or {}, spec_at.key("faults"), cluster, bounds)
        _check_random_faults(faults, cluster, pods, horizon, spec_at.key("faults"))
        cluster = self.provisioning_requests(cluster, spec_at.key("cluster").key("autoscaling"))
        if cluster.autoscaling.enabled:
            _check_autoscaled(spec_at, workloads, self.pod_workloads, faults, kueue_config, self.places)
        return Scenario(
            name=doc["metadata"]["name"],
            path=self.shown,
            seed=spec.get("seed", 0) or 0,
            horizon=horizon,
            cluster=cluster,
            workloads=tuple(workloads),
            timing=_timing(spec.get("timing") or {}, spec_at.key("timing")),
            controller=controller,
            faults=faults,
            patches=tuple(patches),
            scales=tuple(scales),
            expect=tuple(self.expect(spec.get("expect") or [], spec_at.key("expect"), workloads)),
            priority_classes=tuple(self.admission.classes.values()),
            budgets=tuple(self.budgets),
            pod_workloads=tuple(self.pod_workloads),
            kueue=kueue_objects,
        )

    # -- cluster ----------------------------------------------------------------------------------------

    def cluster(self, raw: dict, where: Where) -> Cluster:
        pools: list[NodePool] = []
        nodes: list[Node] = []
        seen: dict[str, str] = {}
        pools_at = where.key("nodePools")
        counted = 0
        for i, p in enumerate(raw.get("nodePools") or []):
            at = pools_at.index(i)
            counted += int(p["max"] if p.get("max") is not None else p["count"])
            check_at_most(at.key("count"), "the cluster", counted, MAX_NODES, "nodes")
            pool = _pool(p, at)
            if pool.name in {q.name for q in pools}:
                raise at.key("name").error(f'duplicate pool name "{pool.name}"')
            pools.append(pool)
            for n in expand_pool(pool):
                _claim(seen, n.name, f"pool {pool.name}", at.key("name"))
                nodes.append(n)
        existing: list[ExistingPod] = []
        if raw.get("nodes") is not None:
            ref_at = where.key("nodes")
            file, shown = self.relative(raw["nodes"])
            listed, existing = load_nodes(file, shown, ref_at)
            check_at_most(ref_at, "the cluster", len(nodes) + len(listed), MAX_NODES, "nodes")
            for n in listed:
                _claim(seen, n.name, shown, ref_at)
                nodes.append(n)
            names = {n.name for n in nodes}
            for pod in existing:
                if pod.node not in names:
                    raise ref_at.error(
                        f'pod {pod.namespace}/{pod.name} in {shown} is bound to node "{pod.node}", '
                        "which is not in the cluster"
                    )
        autoscaling = _autoscaling(raw.get("autoscaling"), where.key("autoscaling"), pools, pools_at)
        if not nodes and not any(p.autoscaled and p.max_count for p in pools):
            raise where.error("the cluster has no nodes: give nodePools or nodes")
        return Cluster(
            pools=tuple(pools), nodes=tuple(nodes), existing_pods=tuple(existing), autoscaling=autoscaling
        )

    # -- workloads --------------------------------------------------------------------------------------

    def workloads(
        self, raw: list, where: Where, controller: ControllerConfig
    ) -> tuple[list[Workload], dict[str, _Manifest]]:
        """The LeaderWorkerSets (and LLMInferenceServices) with the manifests events patch; the other
        objects go to ``self.classes``, ``self.budgets`` and ``self.pod_workloads``. Pods are admitted
        with their PriorityClass once every class is read (the classes may come in any order)."""
        workloads: list[Workload] = []
        manifests: dict[str, _Manifest] = {}
        places = self.places
        for i, entry in enumerate(raw):
            at = where.index(i)
            _exactly_one(entry, ("file", "manifest"), at)
            applied = at.key("at").duration(entry["at"]) if entry.get("at") is not None else 0.0
            if "file" in entry:
                file, shown = self.relative(entry["file"])
                docs = load_documents(file, shown, at.key("file"))
                if not docs:
                    raise at.key("file").error(f"{shown} holds no documents")
                places_ = [
                    Where(shown if len(docs) == 1 else f"{shown} (document {d + 1})")
                    for d in range(len(docs))
                ]
                sources = [p.file for p in places_]
            else:
                docs, places_ = [entry["manifest"]], [at.key("manifest")]
                sources = [f"{self.shown} spec.workloads[{i}]"]
            for doc, place, source in zip(docs, places_, sources, strict=True):
                derived = read_document(doc, place, controller, source, applied)
                lws_derived = [w for w in derived if isinstance(w, Workload)]
                m = _Manifest(doc, place, source, [w.name for w in lws_derived])
                for obj in derived:
                    if isinstance(obj, PriorityClass):
                        self.admission.add(obj, place)
                        continue
                    if isinstance(obj, DisruptionBudget):
                        self.budgets.append(obj)
                        continue
                    if isinstance(obj, kueue.KueueObject):
                        self.kueue.add(obj, place)
                        continue
                    if isinstance(obj, ProvisioningRequest):
                        self.provreqs.append((obj, place))
                        continue
                    if isinstance(obj, PodTemplateObject):
                        self.pod_templates.append((obj, place))
                        continue
                    if obj.name in places:
                        raise place.error(
                            f'workload "{obj.name}" is defined twice (also in {places[obj.name].file})'
                        )
                    places[obj.name] = place
                    if isinstance(obj, PodWorkload):
                        self.pod_workloads.append(obj)
                        continue
                    w = obj
                    clash = next(
                        (o for o in workloads if o.lws.name == w.lws.name and o.namespace == w.namespace),
                        None,
                    )
                    if clash:
                        raise place.error(
                            f"LeaderWorkerSet {w.namespace}/{w.lws.name} would be created twice "
                            f"(also by {clash.source})"
                        )
                    manifests[w.name] = m
                    workloads.append(w)
        admitted = [replace(w, lws=self.admit_lws(w, places[w.name])) for w in workloads]
        self.pod_workloads = [
            replace(
                p, template=self.admission.admit(p.template, _template_at(p, places[p.name]), _pod_name(p))
            )
            for p in self.pod_workloads
        ]
        return admitted, manifests

    def provisioning_requests(self, cluster: Cluster, at: Where) -> Cluster:
        """ProvisioningRequests and PodTemplates checked and handed to cluster-autoscaler's settings: only
        with provider clusterAutoscaler; every pod set names a PodTemplate of its namespace."""
        if not self.provreqs and not self.pod_templates:
            return cluster
        autoscaling = cluster.autoscaling
        if autoscaling.provider != CLUSTER_AUTOSCALER:
            obj, place = (self.provreqs or self.pod_templates)[0]  # type: ignore[operator]
            raise place.key("kind").error(
                f"{type(obj).__name__} {obj.name}: ProvisioningRequests are cluster-autoscaler's; they need "
                "spec.cluster.autoscaling.provider clusterAutoscaler"
            )
        templates = {(t.namespace, t.name): t for t in _unique(self.pod_templates, "PodTemplate")}
        ca = autoscaling.cluster_autoscaler
        _unique(self.provreqs, "ProvisioningRequest")
        for r, place in self.provreqs:
            for i, (name, _) in enumerate(r.pod_sets):
                if (r.namespace, name) not in templates:
                    raise (
                        place.key("spec")
                        .key("podSets")
                        .index(i)
                        .key("podTemplateRef")
                        .key("name")
                        .error(f"no PodTemplate {r.namespace}/{name} in spec.workloads")
                    )
            if r.class_name == ATOMIC_CLASS and ca.cloud_provider not in ATOMIC_PROVIDERS:
                place.key("spec").key("provisioningClassName").warn(
                    f"cloud provider {ca.cloud_provider}'s node groups have no AtomicIncreaseSize: "
                    "cluster-autoscaler accepts the request but scales up node by node, so the capacity may "
                    "come partly (only azure's are atomic)"
                )
        if self.provreqs and not ca.enable_provisioning_requests:
            at.key("clusterAutoscaler").key("enableProvisioningRequests").warn(
                "cluster-autoscaler ignores ProvisioningRequests unless --enable-provisioning-requests is on "
                "(enableProvisioningRequests: true)"
            )
        ca = replace(
            ca,
            provisioning_requests=tuple(r for r, _ in self.provreqs),
            pod_templates=tuple(templates.values()),
        )
        return replace(cluster, autoscaling=replace(autoscaling, cluster_autoscaler=ca))

    def kueue_objects(self, config: KueueConfig, at: Where, workloads: list[Workload]) -> KueueObjects:
        """Kueue's objects with references checked, and what Kueue's LWS webhook checks of each
        LeaderWorkerSet's labels. Warns when objects are given that the configuration leaves unused."""
        objects = self.kueue.objects(config)
        given = objects.flavors or objects.cluster_queues or objects.local_queues
        if given and not config.enabled:
            at.key("enabled").warn(
                "the scenario defines Kueue objects but Kueue is not enabled: they are unused"
            )
        elif given and not config.manages_lws and workloads:
            at.key("integrations").key("frameworks").warn(
                f"Kueue does not manage LeaderWorkerSets unless {LWS_FRAMEWORK} is listed (the default is "
                "batch/job only): the LeaderWorkerSets run without Kueue"
            )
        for w in workloads:
            place = self.places[w.name]
            kueue.check_lws_labels(w.lws.labels, place.key("metadata").key("labels"), objects)
            spec_at = (
                place.key("spec").key("leaderWorkerTemplate") if w.kind == lws.KIND else place.key("spec")
            )
            kueue.check_lws_templates(w.lws, spec_at, objects)
        return objects

    def admit_lws(self, w: Workload, place: Where) -> LeaderWorkerSetSpec:
        at = place.key("spec").key("leaderWorkerTemplate") if w.kind == lws.KIND else place.key("spec")
        return self.admission.admit_lws(w.lws, at)

    # -- events -----------------------------------------------------------------------------------------

    def events(
        self,
        raw: list,
        where: Where,
        workloads: list[Workload],
        manifests: dict[str, _Manifest],
        controller: ControllerConfig,
    ) -> tuple[list[PatchEvent], list[ScaleEvent]]:
        """Patches and scales in time order, applied cumulatively to each manifest (docs/lws-v0.7-semantics.md
        §1.3)."""
        timed = []
        for i, ev in enumerate(raw):
            at = where.index(i)
            _exactly_one(ev, ("patch", "scale"), at)
            timed.append((at.key("at").duration(ev["at"]), i, ev))
        timed.sort(key=lambda t: (t[0], t[1]))
        current = {w.name: w for w in workloads}
        patches: list[PatchEvent] = []
        scales: list[ScaleEvent] = []
        for t, i, ev in timed:
            at = where.index(i)
            action = "patch" if "patch" in ev else "scale"
            body = ev[action]
            name = _workload_name(body["workload"], at.key(action).key("workload"), workloads)
            m = manifests[name]
            w = current[name]
            if action == "patch":
                doc = dict(m.doc)
                doc["spec"] = merge_patch(m.doc.get("spec"), body["spec"])
            else:
                if body["replicas"] < 0:
                    raise at.key("scale").key("replicas").error("must be at least 0")
                service = m.names[0]
                doc = with_value(m.doc, replicas_path(w.kind, name, service), body["replicas"])
            derived = [
                replace(w, lws=self.admit_lws(w, m.where))
                for w in _rederive(doc, m, controller, at.key(action), current)
            ]
            m.doc = doc
            for new in derived:
                old = current[new.name]
                current[new.name] = new
                if action == "scale" and new.name == name:
                    scales.append(ScaleEvent(t, name, new.lws.replicas))
                elif action == "patch" and (new.name == name or new.lws != old.lws):
                    patches.append(PatchEvent(t, new.name, body["spec"], new.lws))
        return patches, scales

    # -- faults -----------------------------------------------------------------------------------------

    def faults(self, raw: dict, where: Where, cluster: Cluster, bounds: dict[str, tuple[int, int]]) -> Faults:
        node_failures = None
        if raw.get("nodeFailures") is not None:
            node_failures = _node_failures(raw["nodeFailures"], where.key("nodeFailures"))
        domains = []
        for i, d in enumerate(raw.get("domainFailures") or []):
            at = where.key("domainFailures").index(i)
            if not any(d["key"] in dict(n.labels) for n in cluster.nodes):
                raise at.key("key").error(
                    f'no node has the label "{d["key"]}"; domains are groups of nodes sharing '
                    "a label value (pool topology or node labels)"
                )
            domains.append(
                DomainFailures(
                    d["key"], float(d["ratePerDomainDay"]), distribution(d["repair"], at.key("repair"))
                )
            )
        scripted = [
            self.scripted(s, where.key("scripted").index(i), cluster, bounds)
            for i, s in enumerate(raw.get("scripted") or [])
        ]
        kw: dict[str, Any] = {}
        if raw.get("nodeMonitorGracePeriod") is not None:
            kw["node_monitor_grace_period"] = where.key("nodeMonitorGracePeriod").duration(
                raw["nodeMonitorGracePeriod"]
            )
        if raw.get("forceDeleteAfter") is not None:
            kw["force_delete_after"] = where.key("forceDeleteAfter").duration(raw["forceDeleteAfter"])
        return Faults(
            node_failures=node_failures,
            domain_failures=tuple(domains),
            container_crashes_per_pod_day=float(
                (raw.get("containerCrashes") or {}).get("ratePerPodDay", 0.0)
            ),
            scripted=tuple(sorted(scripted, key=lambda s: s.at)),
            repaired_nodes_keep_images=bool(raw.get("repairedNodesKeepImages", False)),
            **kw,
        )

    def scripted(
        self, raw: dict, at: Where, cluster: Cluster, bounds: dict[str, tuple[int, int]]
    ) -> ScriptedFault:
        kind = _exactly_one(raw, scenario_schema.SCRIPTED_ACTIONS, at)
        t = at.key("at").duration(raw["at"])
        target, target_at = raw[kind], at.key(kind)
        nodes = {n.name for n in cluster.nodes}
        if kind in ("podCrash", "podDelete"):
            _check_pod(target, target_at, bounds)
            return ScriptedFault(t, kind, pod=target)
        if kind in ("nodeDown", "nodeUp"):
            if target.get("pod") is not None:
                _check_pod(target["pod"], target_at.key("pod"), bounds)
                return ScriptedFault(t, kind, pod=target["pod"])
            if target["node"] not in nodes:
                raise target_at.key("node").error(
                    f'unknown node "{target["node"]}"{_close(target["node"], nodes)}'
                )
            return ScriptedFault(t, kind, node=target["node"])
        key, value = target["key"], target["value"]
        if not any(dict(n.labels).get(key) == value for n in cluster.nodes):
            raise target_at.error(f"no node has the label {key}={value}")
        return ScriptedFault(t, kind, domain=(key, value))

    # -- expectations -----------------------------------------------------------------------------------

    def expect(self, raw: list, where: Where, workloads: list[Workload]) -> list[Expectation]:
        """``expect[]``; a workload names a LeaderWorkerSet, LLMInferenceService or pod workload."""
        out = []
        for i, item in enumerate(raw):
            at = where.index(i)
            name = item.get("workload")
            if name is not None:
                name = _workload_name(name, at.key("workload"), [*workloads, *self.pod_workloads])
            quantile = item.get("quantile")
            versions = tuple(dict.fromkeys(item.get("lwsVersions") or ()))
            metrics = [m for m in scenario_schema.METRICS if m in item]
            if not metrics:
                raise at.error(f"name a metric to check: {', '.join(scenario_schema.METRICS)}")
            for metric in metrics:
                m_at = at.key(metric)
                if name is None and metric not in scenario_schema.CLUSTER_METRICS:
                    raise at.key("workload").error(
                        f"required for {metric} (only {', '.join(scenario_schema.CLUSTER_METRICS)} "
                        "may be cluster-wide)"
                    )
                for comparator, value in item[metric].items():
                    c_at = m_at.key(comparator)
                    number = (
                        c_at.duration(value) if metric in scenario_schema.DURATION_METRICS else float(value)
                    )
                    if metric == "availability" and not 0 <= number <= 1:
                        raise c_at.error(f"availability is a fraction between 0 and 1, got {value}")
                    out.append(
                        Expectation(
                            name,
                            metric,
                            comparator,
                            number,
                            None if quantile is None else float(quantile),
                            i,
                            c_at.path,
                            versions,
                        )
                    )
        return out


# -- small converters ------------------------------------------------------------------------------------


def _claim(seen: dict[str, str], name: str, origin: str, at: Where) -> None:
    if name in seen:
        raise at.error(f'duplicate node name "{name}" (from {seen[name]} and {origin})')
    seen[name] = origin


def _exactly_one(raw: dict, options: tuple[str, ...], at: Where) -> str:
    given = [o for o in options if o in raw]
    if len(given) != 1:
        got = ", ".join(given) if given else "none"
        raise at.error(f"give exactly one of {', '.join(options)} (got {got})")
    return given[0]


def _close(word: str, options: Any) -> str:
    import difflib

    m = difflib.get_close_matches(word, sorted(options), n=1)
    return f' (did you mean "{m[0]}"?)' if m else ""


def _template_at(p: PodWorkload, place: Where) -> Where:
    """Where a pod workload's pod spec is, for admission's messages."""
    return place.key("spec") if p.kind == POD else place.key("spec").key("template").key("spec")


def _pod_name(p: PodWorkload) -> str:
    """A name the workload's first pod may get, for admission's messages ("pods "x" is forbidden")."""
    if p.kind == POD:
        return p.name
    if p.kind == STATEFULSET:
        return f"{p.name}-0"
    return f"{p.name}-..."


def _workload_name(name: str, at: Where, workloads: list[Workload] | list[Workload | PodWorkload]) -> str:
    names = [w.name for w in workloads]
    if name not in names:
        raise at.error(f'unknown workload "{name}"{_close(name, names)}; workloads are: {", ".join(names)}')
    return name


def _lws_bounds(
    workloads: list[Workload], patches: list[PatchEvent], scales: list[ScaleEvent]
) -> dict[str, tuple[int, int]]:
    """Largest replicas and size each LWS reaches over the run: the pod names that can exist."""
    bounds: dict[str, tuple[int, int]] = {}
    by_workload = {w.name: w.lws.name for w in workloads}

    def see(spec: LeaderWorkerSetSpec, replicas: int | None = None) -> None:
        r0, s0 = bounds.get(spec.name, (0, 0))
        bounds[spec.name] = (max(r0, spec.replicas if replicas is None else replicas), max(s0, spec.size))

    for w in workloads:
        see(w.lws)
    for p in patches:
        see(p.lws)
    for s in scales:
        r0, s0 = bounds[by_workload[s.workload]]
        bounds[by_workload[s.workload]] = (max(r0, s.replicas), s0)
    return bounds


def _check_pods(bounds: dict[str, tuple[int, int]], cluster: Cluster, at: Where) -> int:
    """The most pods the run can hold (every LWS at its most replicas × size, snapshot pods), within
    MAX_PODS, and each LWS within MAX_GROUPS. Refused before any pod exists."""
    for name, (replicas, _) in bounds.items():
        check_at_most(at, f"LeaderWorkerSet {name} at its most", replicas, MAX_GROUPS, "groups")
    total = len(cluster.existing_pods) + sum(r * s for r, s in bounds.values())
    if total > MAX_PODS:
        largest = max(bounds, key=lambda n: bounds[n][0] * bounds[n][1])
        r, s = bounds[largest]
        check_at_most(
            at, f"the number of pods at its most ({largest}: {r:,} groups of {s:,})", total, MAX_PODS, "pods"
        )
    return total


def _unique(items: list, kind: str) -> list:
    """The objects of (object, place) pairs, refusing two of one namespace and name."""
    seen: set[tuple[str, str]] = set()
    for obj, place in items:
        if (obj.namespace, obj.name) in seen:
            raise (
                place.key("metadata").key("name").error(f"{kind} {obj.namespace}/{obj.name} is defined twice")
            )
        seen.add((obj.namespace, obj.name))
    return [obj for obj, _ in items]


def _check_autoscaled(
    spec_at: Where,
    workloads: list[Workload],
    pod_workloads: list[PodWorkload],
    faults: Faults,
    kueue_config: KueueConfig,
    places: dict[str, Where],
) -> None:
    """Refuse what the autoscaling model does not represent yet, naming the field: domain failures and
    scripted node faults (the nodes they name come and go), Kueue managing the LeaderWorkerSets
    (its quota and topology on nodes that come and go), and pod (anti-)affinity over a topology key other
    than the hostname (Karpenter makes such domains only from NodePool labels)."""
    faults_at = spec_at.key("faults")
    if faults.domain_failures:
        raise faults_at.key("domainFailures").error(
            "domain failures with autoscaling are not simulated yet (a domain's nodes come and go): "
            "remove them, or the cluster's autoscaling"
        )
    for i, f in enumerate(faults.scripted):
        if f.kind.startswith(("node", "domain")):
            raise (
                faults_at.key("scripted")
                .index(i)
                .key("kind")
                .error(f"{f.kind} with autoscaling is not simulated yet: only podCrash and podDelete are")
            )
    if kueue_config.manages_lws:
        raise (
            spec_at.key("controller")
            .key("kueue")
            .error("Kueue with node autoscaling is not simulated yet: turn one of them off")
        )
    for w in workloads:
        place = places[w.name]
        for key in (w.lws.exclusive_topology, w.lws.subgroup_exclusive_topology):
            if key is not None and key != HOSTNAME:
                raise (
                    place.key("metadata")
                    .key("annotations")
                    .error(
                        f"exclusive topology on {key} with autoscaling is not simulated yet: Karpenter makes "
                        "domains of a key other than the hostname only from NodePool labels"
                    )
                )
        for role, t in (("leader", w.lws.effective_leader_template), ("worker", w.lws.worker_template)):
            _check_affinity_keys(t, place, f"{role} template")
    for p in pod_workloads:
        _check_affinity_keys(p.template, places[p.name], "pod template")


def _check_affinity_keys(t: PodTemplate, place: Where, what: str) -> None:
    for term in t.pod_affinity + t.pod_anti_affinity:
        if term.topology_key != HOSTNAME:
            raise place.error(
                f"the {what}'s pod (anti-)affinity over {term.topology_key} with autoscaling is not "
                "simulated yet: only kubernetes.io/hostname is"
            )


def _check_random_faults(faults: Faults, cluster: Cluster, pods: int, horizon: float, at: Where) -> None:
    """Refuse failure rates that would draw more than MAX_RANDOM_FAULTS faults over the horizon: each
    is simulated, so a mistyped rate (1e9 per node-day) would run for days instead of failing."""
    days = horizon / 86400
    expected = [("containerCrashes", faults.container_crashes_per_pod_day * pods * days)]
    if faults.node_failures is not None:
        expected.append(("nodeFailures", faults.node_failures.rate_per_node_day * len(cluster.nodes) * days))
    for i, d in enumerate(faults.domain_failures):
        domains = {dict(n.labels).get(d.key) for n in cluster.nodes} - {None}
        expected.append((f"domainFailures[{i}]", d.rate_per_domain_day * len(domains) * days))
    total = sum(n for _, n in expected)
    if total > MAX_RANDOM_FAULTS:
        field = max(expected, key=lambda e: e[1])[0]  # the rate that draws the most
        what = "the expected number of random faults over the horizon"
        check_at_most(at.key(field), what, math.ceil(total), MAX_RANDOM_FAULTS, "faults")


def _check_pod(name: str, at: Where, bounds: dict[str, tuple[int, int]]) -> None:
    """A pod name some LWS creates: leader ``<lws>-<g>``, worker ``<lws>-<g>-<w>`` (docs/lws-v0.7-semantics.md
    §2)."""
    for lws_name, (replicas, size) in bounds.items():
        m = re.fullmatch(re.escape(lws_name) + r"-(\d+)(?:-(\d+))?", name)
        if m and int(m.group(1)) < max(replicas, 1) and (m.group(2) is None or 1 <= int(m.group(2)) < size):
            return
    known = ", ".join(f"{n} ({r} group(s) of {s})" for n, (r, s) in bounds.items())
    raise at.error(
        f'pod "{name}" belongs to no workload: pods are named <lws>-<group> (leader) or '
        f"<lws>-<group>-<worker>, worker 1…size-1; LeaderWorkerSets: {known}"
    )


def _rederive(
    doc: dict, m: _Manifest, controller: ControllerConfig, at: Where, current: dict[str, Workload]
) -> list[Workload]:
    """Workloads of the patched document; an error says which event made the manifest invalid."""
    try:
        derived = [w for w in read_document(doc, m.where, controller, m.source) if isinstance(w, Workload)]
    except InputError as exc:
        raise at.error(f"the manifest is invalid after this event: {exc.render()}") from None
    if [w.name for w in derived] != m.names:
        raise at.unsupported(
            f"this event changes which workloads the manifest defines ({', '.join(m.names)} → "
            f"{', '.join(w.name for w in derived)}); adding or removing workloads is not simulated"
        )
    for new in derived:
        _check_update(current[new.name], new, at)
    return derived


def _check_update(old: Workload, new: Workload, at: Where) -> None:
    """Update-only rejections: subGroupSize is immutable (docs/lws-v0.7-semantics.md §1.2, ValidateUpdate),
    and KServe
    refuses a change of the size it derives from parallelism (docs/lws-v0.7-semantics.md §5)."""
    if old.lws.subgroup_size != new.lws.subgroup_size:
        raise at.error(
            f"LeaderWorkerSet {new.lws.name}: subGroupSize cannot change after creation "
            f"({old.lws.subgroup_size} → {new.lws.subgroup_size})"
        )
    if new.kind == "LLMInferenceService" and old.lws.size != new.lws.size:
        raise at.error(
            f"LLMInferenceService {new.name}: the group size derived from parallelism is immutable "
            f"({old.lws.size} → {new.lws.size})"
        )


def _pool(p: dict, at: Where) -> NodePool:
    capacity = at.key("capacity").resources(p["capacity"])
    count, low, high = int(p["count"]), p.get("min"), p.get("max")
    if high is not None:
        low = 0 if low is None else int(low)
        if low > high:
            raise at.key("min").error(f"min ({low}) must not exceed max ({high})")
        if not low <= count <= high:
            raise at.key("count").error(
                f"the starting size ({count}) must be within [min, max] = [{low}, {high}]"
            )
        if p.get("topology"):
            raise at.key("topology").error(
                "generated topology levels are not simulated on a pool that autoscales: new nodes "
                "would need their rack from the cloud; give the levels as labels, or no max"
            )
    elif low is not None:
        raise at.key("min").error(
            "min needs max: a pool autoscales only with both (and spec.cluster.autoscaling)"
        )
    taints = tuple(Taint(t["key"], t.get("value", ""), t["effect"]) for t in p.get("taints") or [])
    topology = tuple(TopologyLevel(t["key"], int(t["size"])) for t in p.get("topology") or [])
    cost = p.get("costPerNodeHour")
    return NodePool(
        name=p["name"],
        count=int(p["count"]),
        capacity=tuple(sorted(capacity.items())),
        labels=tuple(sorted((p.get("labels") or {}).items())),
        taints=taints,
        topology=topology,
        cost_per_node_hour=None if cost is None else float(cost),
        min_count=low,
        max_count=high,
    )


def _autoscaling(raw: dict | None, at: Where, pools: list[NodePool], pools_at: Where) -> Autoscaling:
    """``spec.cluster.autoscaling`` checked against the pools: every pool with ``max`` is launched by one
    Karpenter NodePool (its own, named as it, unless one names it)."""
    grown = [p for p in pools if p.autoscaled]
    if raw is None:
        for i, p in enumerate(pools):
            if p.autoscaled:
                raise (
                    pools_at.index(i)
                    .key("max")
                    .error("a pool with max autoscales: give spec.cluster.autoscaling (provider karpenter)")
                )
        return Autoscaling()
    provider = raw["provider"]
    if not grown:
        raise at.error("no node pool has max: name the most nodes of each pool that may grow")
    if provider == CLUSTER_AUTOSCALER:
        return Autoscaling(provider=provider, cluster_autoscaler=_cluster_autoscaler(raw, at, grown))
    if raw.get("clusterAutoscaler") is not None:
        raise at.key("clusterAutoscaler").error("only with provider clusterAutoscaler")
    by_name = {p.name: p for p in pools}
    node_pools: list[KarpenterNodePool] = []
    launched: dict[str, str] = {}
    np_at = at.key("nodePools")
    for i, n in enumerate(raw.get("nodePools") or []):
        n_at = np_at.index(i)
        pool = by_name.get(n["pool"])
        if pool is None:
            raise n_at.key("pool").error(f'no node pool is named "{n["pool"]}"')
        if not pool.autoscaled:
            raise n_at.key("pool").error(
                f'pool "{pool.name}" has no max: give it min and max to autoscale it'
            )
        if pool.name in launched:
            raise n_at.key("pool").error(
                f'pool "{pool.name}" is launched by NodePool {launched[pool.name]} already: one NodePool '
                "per pool is simulated"
            )
        if n["name"] in {x.name for x in node_pools}:
            raise n_at.key("name").error(f'duplicate NodePool name "{n["name"]}"')
        launched[pool.name] = n["name"]
        limits = n_at.key("limits").resources(n.get("limits") or {})
        capacity = dict(pool.capacity)
        for r, amount in limits.items():
            if capacity.get(r, 0) > amount:
                raise (
                    n_at.key("limits")
                    .key(r)
                    .error(
                        f"the limit ({amount}) is below one node of pool {pool.name} ({capacity[r]}): "
                        "Karpenter could never launch a node"
                    )
                )
        node_pools.append(
            KarpenterNodePool(
                name=n["name"],
                pool=pool.name,
                weight=int(n.get("weight", 0)),
                limits=tuple(sorted(limits.items())),
                disruption=_disruption(n.get("disruption") or {}, n_at.key("disruption")),
                expire_after=_expire_after(n.get("expireAfter", "720h"), n_at.key("expireAfter")),
            )
        )
    for p in grown:
        if p.name not in launched:
            node_pools.append(KarpenterNodePool(p.name, p.name, disruption=_disruption({}, np_at)))
    underutilized = [
        n.name
        for n in node_pools
        if n.disruption.consolidation_policy == WHEN_EMPTY_OR_UNDERUTILIZED
        and n.disruption.consolidate_after is not None
    ]
    if underutilized and len(node_pools) > 1:
        raise np_at.error(
            f"NodePool {underutilized[0]} consolidates WhenEmptyOrUnderutilized (Karpenter's default), "
            "which may replace nodes with cheaper ones of another NodePool: lwssim does not simulate that "
            "yet; with more than one NodePool set consolidationPolicy: WhenEmpty, or consolidateAfter: Never"
        )
    kw: dict[str, Any] = {}
    if raw.get("batchIdleDuration") is not None:
        kw["batch_idle"] = at.key("batchIdleDuration").duration(raw["batchIdleDuration"])
    if raw.get("batchMaxDuration") is not None:
        kw["batch_max"] = at.key("batchMaxDuration").duration(raw["batchMaxDuration"])
    return Autoscaling(provider=provider, node_pools=tuple(node_pools), **kw)


CA_DURATIONS = {
    "scanInterval": "scan_interval",
    "maxNodeProvisionTime": "max_node_provision_time",
    "scaleDownUnneededTime": "scale_down_unneeded_time",
    "scaleDownDelayAfterAdd": "scale_down_delay_after_add",
    "initialNodeGroupBackoffDuration": "initial_backoff",
    "maxNodeGroupBackoffDuration": "max_backoff",
    "nodeGroupBackoffResetTimeout": "backoff_reset",
}
CA_VALUES = {
    "expander": "expander",
    "cloudProvider": "cloud_provider",
    "enableProvisioningRequests": "enable_provisioning_requests",
    "scaleDownEnabled": "scale_down_enabled",
    "scaleDownUtilizationThreshold": "scale_down_utilization_threshold",
    "scaleDownGpuUtilizationThreshold": "scale_down_gpu_utilization_threshold",
    "maxNodesPerScaleUp": "max_nodes_per_scale_up",
    "maxScaleDownParallelism": "max_scale_down_parallelism",
}


def _cluster_autoscaler(raw: dict, at: Where, grown: list[NodePool]) -> ClusterAutoscalerConfig:
    """cluster-autoscaler's flags; Karpenter's fields are refused with it, and so are ProvisioningRequests
    (not simulated yet)."""
    for key in ("nodePools", "batchIdleDuration", "batchMaxDuration"):
        if raw.get(key) is not None:
            raise at.key(key).error("is Karpenter's: cluster-autoscaler's node groups are the pools with max")
    ca = raw.get("clusterAutoscaler") or {}
    ca_at = at.key("clusterAutoscaler")
    kw: dict[str, Any] = {
        a: ca_at.key(k).duration(ca[k]) for k, a in CA_DURATIONS.items() if ca.get(k) is not None
    }
    kw |= {a: ca[k] for k, a in CA_VALUES.items() if ca.get(k) is not None}
    if kw.get("scan_interval", 1.0) <= 0:
        raise ca_at.key("scanInterval").error("must be longer than 0s")
    priorities = []
    for key, regexes in (ca.get("priorities") or {}).items():
        p_at = ca_at.key("priorities").key(str(key))
        try:
            priority = int(key)
        except ValueError:
            raise p_at.error(f"a priority is an integer, got {key!r}") from None
        for regex in regexes:
            try:
                re.compile(regex)
            except re.error as e:
                raise p_at.error(f"{regex!r} is not a regular expression: {e}") from None
        priorities.append((priority, tuple(regexes)))
    if kw.get("expander") == "priority" and not priorities:
        raise ca_at.key("priorities").error(
            "the priority expander needs priorities (priority → node group regexes)"
        )
    return ClusterAutoscalerConfig(priorities=tuple(sorted(priorities, reverse=True)), **kw)


def _expire_after(raw: str, at: Where) -> float | None:
    if raw == "Never":
        return None
    seconds = at.duration(raw)
    if seconds <= 0:
        raise at.error("must be longer than 0s, or Never")
    return seconds


def _disruption(raw: dict, at: Where) -> Disruption:
    after_raw = raw.get("consolidateAfter", "0s")
    after = None if after_raw == "Never" else at.key("consolidateAfter").duration(after_raw)
    policy = raw.get("consolidationPolicy", WHEN_EMPTY_OR_UNDERUTILIZED)
    budgets = tuple(str(b["nodes"]) for b in raw.get("budgets") or [{"nodes": "10%"}])
    return Disruption(policy, after, budgets)


def _node_provisioning(raw: dict, at: Where) -> NodeProvisioning:
    names = {"vmAllocation": "vm_allocation", "nodeReady": "node_ready", "gpuAllocatable": "gpu_allocatable"}
    kw: dict[str, Any] = {
        a: distribution(raw[k], at.key(k)) for k, a in names.items() if raw.get(k) is not None
    }
    if raw.get("stockoutProbability") is not None:
        kw["stockout_probability"] = float(raw["stockoutProbability"])
    if raw.get("unavailableOfferingTTL") is not None:
        kw["unavailable_offering_ttl"] = at.key("unavailableOfferingTTL").duration(
            raw["unavailableOfferingTTL"]
        )
    return NodeProvisioning(**kw)


def _controller(raw: dict) -> ControllerConfig:
    return ControllerConfig(
        lws_version=raw.get("lwsVersion", "v0.7.0"),
        kubernetes_version=".".join(raw.get("kubernetesVersion", "v1.34").split(".")[:2]),
        gang_scheduling=raw.get("gangScheduling", "none"),
        feature_gates=tuple(sorted((raw.get("featureGates") or {}).items())),
        scoring_strategy=raw.get("scoringStrategy", "LeastAllocated"),
    )


def _role(raw: dict, at: Where) -> RoleTiming:
    pull = raw.get("imagePull") or {}
    return RoleTiming(**_phases(raw, at), **_pulls(pull, at.key("imagePull")))


def _phases(raw: dict, at: Where) -> dict[str, Distribution]:
    names = {"containerStart": "container_start", "modelLoad": "model_load", "termination": "termination"}
    return {attr: distribution(raw[k], at.key(k)) for k, attr in names.items() if raw.get(k) is not None}


def _pulls(raw: dict, at: Where) -> dict[str, Distribution]:
    names = {"cold": "image_pull_cold", "cached": "image_pull_cached"}
    return {attr: distribution(raw[k], at.key(k)) for k, attr in names.items() if raw.get(k) is not None}


def _timing(raw: dict, at: Where) -> Timing:
    kw: dict[str, Any] = {**_phases(raw, at), **_pulls(raw.get("imagePull") or {}, at.key("imagePull"))}
    if raw.get("schedulingThroughput") is not None:
        kw["scheduling_throughput"] = float(raw["schedulingThroughput"])
    if raw.get("apiLatency") is not None:
        kw["api_latency"] = _api_latency(raw["apiLatency"], at.key("apiLatency"))
    for role in ("leader", "worker"):
        if raw.get(role) is not None:
            kw[role] = _role(raw[role], at.key(role))
    if raw.get("nodeProvisioning") is not None:
        kw["node_provisioning"] = _node_provisioning(raw["nodeProvisioning"], at.key("nodeProvisioning"))
    return Timing(**kw)


def _api_latency(raw: Any, at: Where) -> ApiLatency:
    """One distribution for every call, or one per kind of call (the others keep their defaults)."""
    if isinstance(raw, dict) and raw.keys() & API_CALLS.keys():
        given = {API_CALLS[k]: distribution(v, at.key(k)) for k, v in raw.items() if v is not None}
        return replace(ApiLatency(), **given)
    return ApiLatency.every_call(distribution(raw, at))


def _node_failures(raw: dict, at: Where) -> NodeFailures:
    repair = distribution(raw["repair"], at.key("repair"))
    rate = float(raw.get("ratePerNodeDay", 419 / (2048 * 54)))  # Llama 3: ≈0.0038 per node-day
    if raw.get("causes") is None:
        total = sum(c for _, c, _ in LLAMA3_CAUSES)
        causes = tuple(FailureCause(n, c / total, repair, e) for n, c, e in LLAMA3_CAUSES)
    else:
        causes_at = at.key("causes")
        causes = tuple(
            FailureCause(
                c["name"],
                float(c["weight"]),
                repair
                if c.get("repair") is None
                else distribution(c["repair"], causes_at.index(i).key("repair")),
                c.get("effect", "nodeDown"),
            )
            for i, c in enumerate(raw["causes"])
        )
        if causes and sum(c.weight for c in causes) <= 0:
            raise causes_at.error("the cause weights must not all be 0")
    return NodeFailures(rate, repair, causes)
