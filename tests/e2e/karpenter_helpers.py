"""Observe what the real Karpenter (KWOK provider) does on the emulator: NodeClaims, Nodes and pods over time.

:func:`observe_karpenter_scale_up` applies a NodePool and a LeaderWorkerSet and records, relative to the LWS's
create, every NodeClaim's creation and its Launched / Registered / Initialized times, every Node's creation
and Ready time (and the taints and Karpenter labels it went through), every pod's node, scheduling and
readiness.
:func:`observe_karpenter_scale_down` scales the LWS down and records when the emptied nodes go. Both return
plain dicts (JSON-ready) for a later comparison with the simulator.

Two clocks: ``watch`` times are when this process's watches delivered a change (sub-second; a few ms after the
API wrote it), relative to the moment just before the LWS create call; ``api`` times come from the objects
(``creationTimestamp``, condition ``lastTransitionTime``: whole seconds, truncated), relative to the LWS's own
``creationTimestamp``. So an ``api`` time may be up to 1 s earlier than the ``watch`` time of the same change.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from e2e_helpers import LWS_GROUP, NS, wait_for

from lwssim.emulator.stack import Stack

KARPENTER_GROUP = "karpenter.sh"
KWOK_GROUP = "karpenter.kwok.sh"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"
UNREGISTERED_TAINT = "karpenter.sh/unregistered"
DISRUPTED_TAINT = "karpenter.sh/disrupted"
NODECLAIM_CONDITIONS = ("Launched", "Registered", "Initialized", "Ready", "Consolidatable", "Drifted")


def nodepool_manifest(
    name: str = "gpu",
    instance_type: str = "gpu-8x-h100",
    gpu_limit: int = 64,
    consolidate_after: str = "30s",
    policy: str = "WhenEmpty",
    node_class: str = "default",
) -> dict[str, Any]:
    """A karpenter.sh/v1 NodePool selecting one instance type of the KWOK provider."""
    return {
        "apiVersion": f"{KARPENTER_GROUP}/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "nodeClassRef": {"group": KWOK_GROUP, "kind": "KWOKNodeClass", "name": node_class},
                    "requirements": [{"key": INSTANCE_TYPE, "operator": "In", "values": [instance_type]}],
                }
            },
            "limits": {"nvidia.com/gpu": gpu_limit},
            "disruption": {"consolidationPolicy": policy, "consolidateAfter": consolidate_after},
        },
    }


def _ts(value: Any) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Recorder:
    """Watches NodeClaims, Nodes and the LWS's pods; keeps, per object, the first watch time of each milestone
    and the object's API timestamps."""

    def __init__(self, api: Any, lws: str) -> None:
        self.api = api
        self.lws = lws
        self.t0 = time.time()
        self.lws_created: dt.datetime | None = None
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"nodeclaim": {}, "node": {}, "pod": {}}
        self.stop_flag = threading.Event()
        self.threads: list[threading.Thread] = []

    # -- watching --------------------------------------------------------------------------------------
    def start(self) -> None:
        from kubernetes import client

        co = client.CustomObjectsApi(self.api)
        v1 = client.CoreV1Api(self.api)
        sel = f"leaderworkerset.sigs.k8s.io/name={self.lws}"
        sources: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            (
                "nodeclaim",
                co.list_cluster_custom_object,
                {"group": KARPENTER_GROUP, "version": "v1", "plural": "nodeclaims"},
            ),
            ("node", v1.list_node, {}),
            ("pod", v1.list_namespaced_pod, {"namespace": NS, "label_selector": sel}),
        ]
        for kind, fn, kw in sources:
            th = threading.Thread(target=self._watch, args=(kind, fn, kw), daemon=True)
            th.start()
            self.threads.append(th)

    def stop(self) -> None:
        self.stop_flag.set()
        for th in self.threads:
            th.join(timeout=10)

    def _watch(self, kind: str, fn: Callable[..., Any], kw: dict[str, Any]) -> None:
        from kubernetes import watch

        listed = self._dict(fn(**kw))
        rv = listed["metadata"]["resourceVersion"]
        for obj in listed["items"]:
            self._event(kind, "ADDED", obj)
        while not self.stop_flag.is_set():
            w = watch.Watch()
            try:
                for ev in w.stream(fn, resource_version=rv, timeout_seconds=2, **kw):
                    obj = self._dict(ev["object"])
                    rv = obj["metadata"].get("resourceVersion", rv)
                    self._event(kind, ev["type"], obj)
                    if self.stop_flag.is_set():
                        break
            except Exception:  # a dropped or expired watch: list again
                if self.stop_flag.is_set():
                    break
                time.sleep(0.2)
                rv = self._dict(fn(**kw))["metadata"]["resourceVersion"]
            finally:
                w.stop()

    def _dict(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, dict):
            return obj
        return self.api.sanitize_for_serialization(obj)

    # -- milestones ------------------------------------------------------------------------------------
    def _event(self, kind: str, etype: str, obj: dict[str, Any]) -> None:
        now = round(time.time() - self.t0, 3)
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name or etype == "BOOKMARK":
            return
        with self.lock:
            rec = self.objects[kind].setdefault(name, {"watch": {}, "api": {}})
            seen = rec["watch"]
            seen.setdefault("created", now)
            rec["last"] = obj
            if meta.get("deletionTimestamp"):
                seen.setdefault("deleting", now)
            if etype == "DELETED":
                seen.setdefault("deleted", now)
            status = obj.get("status") or {}
            spec = obj.get("spec") or {}
            conds = {c["type"]: c for c in status.get("conditions") or []}
            if kind == "nodeclaim":
                for ctype in NODECLAIM_CONDITIONS:
                    if (conds.get(ctype) or {}).get("status") == "True":
                        seen.setdefault(ctype, now)
                if status.get("nodeName"):
                    seen.setdefault("nodeName", now)
            elif kind == "node":
                if (conds.get("Ready") or {}).get("status") == "True":
                    seen.setdefault("Ready", now)
                taints = {t["key"] for t in spec.get("taints") or []}
                rec.setdefault("taints_seen", set()).update(taints)
                if "created" in seen and UNREGISTERED_TAINT not in taints:
                    seen.setdefault("unregistered_taint_gone", now)
                if DISRUPTED_TAINT in taints:
                    seen.setdefault("disrupted_taint", now)
                labels = meta.get("labels") or {}
                for label in ("karpenter.sh/registered", "karpenter.sh/initialized"):
                    if labels.get(label) == "true":
                        seen.setdefault(label.split("/")[1], now)
            elif kind == "pod":
                if spec.get("nodeName"):
                    seen.setdefault("scheduled", now)
                    rec["node"] = spec["nodeName"]
                if status.get("phase") == "Running":
                    seen.setdefault("running", now)
                if (conds.get("Ready") or {}).get("status") == "True":
                    seen.setdefault("ready", now)

    # -- the record ------------------------------------------------------------------------------------
    def _api_times(self, kind: str, obj: dict[str, Any]) -> dict[str, float]:
        ref = self.lws_created
        if ref is None:
            return {}

        def rel(value: Any) -> float | None:
            t = _ts(value)
            return None if t is None else round((t - ref).total_seconds(), 3)

        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        out = {"created": rel(meta.get("creationTimestamp")), "deleting": rel(meta.get("deletionTimestamp"))}
        for c in status.get("conditions") or []:
            if c.get("status") == "True" and (kind != "node" or c["type"] == "Ready"):
                out[c["type"]] = rel(c.get("lastTransitionTime"))
        if kind == "nodeclaim" and status.get("lastPodEventTime"):
            out["lastPodEventTime"] = rel(status["lastPodEventTime"])
        return {k: v for k, v in out.items() if v is not None}

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded so far, JSON-ready."""
        with self.lock:
            out: dict[str, Any] = {}
            for kind, objs in self.objects.items():
                rows = {}
                for name, rec in sorted(objs.items()):
                    obj = rec.get("last") or {}
                    row: dict[str, Any] = {"watch": dict(rec["watch"]), "api": self._api_times(kind, obj)}
                    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
                    status = obj.get("status") or {}
                    if kind == "nodeclaim":
                        row["node"] = status.get("nodeName")
                        row["providerID"] = status.get("providerID")
                        row["instanceType"] = (meta.get("labels") or {}).get(INSTANCE_TYPE)
                        row["requests"] = ((spec.get("resources") or {}).get("requests")) or {}
                    elif kind == "node":
                        refs = meta.get("ownerReferences") or []
                        owners = [o["name"] for o in refs if o["kind"] == "NodeClaim"]
                        row["nodeclaim"] = owners[0] if owners else None
                        row["taints_seen"] = sorted(rec.get("taints_seen", ()))
                        row["taints"] = [f"{t['key']}:{t['effect']}" for t in spec.get("taints") or []]
                        row["capacity"] = status.get("capacity") or {}
                        row["allocatable"] = status.get("allocatable") or {}
                        row["labels"] = {
                            k: v
                            for k, v in (meta.get("labels") or {}).items()
                            if k.startswith(("karpenter.sh/", "kubernetes.io/hostname", "kwok"))
                        }
                    else:
                        row["node"] = rec.get("node")
                        row["group"] = (meta.get("labels") or {}).get(GROUP_INDEX)
                    rows[name] = row
                out[kind + "s"] = rows
            return out


@contextmanager
def recording(api: Any, lws: str) -> Iterator[Recorder]:
    rec = Recorder(api, lws)
    rec.start()
    try:
        yield rec
    finally:
        rec.stop()


def apply_nodepool(api: Any, body: dict[str, Any]) -> None:
    """Create the NodePool, replacing one of the same name."""
    from kubernetes import client

    co = client.CustomObjectsApi(api)
    try:
        co.create_cluster_custom_object(KARPENTER_GROUP, "v1", "nodepools", body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        old = co.get_cluster_custom_object(KARPENTER_GROUP, "v1", "nodepools", body["metadata"]["name"])
        meta = {**body["metadata"], "resourceVersion": old["metadata"]["resourceVersion"]}
        body = {**body, "metadata": meta}
        co.replace_cluster_custom_object(KARPENTER_GROUP, "v1", "nodepools", body["metadata"]["name"], body)


def _nodeclaims(api: Any) -> list[dict[str, Any]]:
    from kubernetes import client

    co = client.CustomObjectsApi(api)
    return co.list_cluster_custom_object(KARPENTER_GROUP, "v1", "nodeclaims")["items"]


def _lws_ready(api: Any, name: str, replicas: int) -> bool:
    from kubernetes import client

    co = client.CustomObjectsApi(api)
    st = co.get_namespaced_custom_object(LWS_GROUP, "v1", NS, "leaderworkersets", name).get("status") or {}
    return st.get("readyReplicas") == replicas and st.get("replicas") == replicas


def summarize(record: dict[str, Any]) -> str:
    """One line per NodeClaim: watch times NodeClaim created -> Launched -> Registered -> Initialized, its
    Node's creation and Ready, and its pod's binding and readiness (seconds from the LWS create)."""
    pods_by_node = {row["node"]: name for name, row in record["pods"].items() if row.get("node")}
    lines = [
        f"LWS {record['lws']}: first pod {record['first_pod_s']} s, last pod {record['last_pod_s']} s, "
        f"first NodeClaim {record['first_nodeclaim_s']} s, all pods Ready {record.get('all_ready_s')} s "
        "(watch times)",
        f"{'nodeclaim':<12} {'created':>7} {'launch':>7} {'regist':>7} {'init':>7} {'node+':>7} "
        f"{'nodeRdy':>7} {'pod':<10} {'bound':>7} {'ready':>7}",
    ]

    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.2f}"

    for name, nc in sorted(record["nodeclaims"].items(), key=lambda kv: kv[1]["watch"].get("created", 0)):
        w = nc["watch"]
        node = record["nodes"].get(nc.get("node") or "", {})
        pod = pods_by_node.get(nc.get("node"))
        pw = record["pods"].get(pod, {}).get("watch", {}) if pod else {}
        lines.append(
            f"{name:<12} {f(w.get('created')):>7} {f(w.get('Launched')):>7} {f(w.get('Registered')):>7} "
            f"{f(w.get('Initialized')):>7} {f(node.get('watch', {}).get('created')):>7} "
            f"{f(node.get('watch', {}).get('Ready')):>7} {pod or '-':<10} {f(pw.get('scheduled')):>7} "
            f"{f(pw.get('ready')):>7}"
        )
    return "\n".join(lines)


def observe_karpenter_scale_up(
    stack: Stack,
    lws: dict[str, Any],
    nodepool: dict[str, Any] | None = None,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Apply ``nodepool`` (default :func:`nodepool_manifest`) and create ``lws`` on a stack that runs
    Karpenter; wait until every pod is Ready on a node and every NodeClaim is Initialized; return the record.

    The record: ``lws``, ``replicas``, ``size``; ``nodeclaims`` / ``nodes`` / ``pods``, each name ->
    {``watch``: milestone -> s, ``api``: milestone -> s, ...} (see the module doc for the two clocks);
    ``first_pod_s``, ``last_pod_s``, ``first_nodeclaim_s``, ``last_nodeclaim_s``, ``all_ready_s`` (watch
    times) and ``batching_delay_s`` = first NodeClaim - last pod created.
    """
    from kubernetes import client

    api = stack.api_client()
    name = lws["metadata"]["name"]
    replicas = lws["spec"]["replicas"]
    size = lws["spec"]["leaderWorkerTemplate"]["size"]
    apply_nodepool(api, nodepool or nodepool_manifest())
    co = client.CustomObjectsApi(api)
    with recording(api, name) as rec:
        time.sleep(0.5)  # let the watches start before the create
        rec.t0 = time.time()
        made = co.create_namespaced_custom_object(LWS_GROUP, "v1", NS, "leaderworkersets", lws)
        rec.lws_created = _ts(made["metadata"]["creationTimestamp"])

        def done() -> bool:
            snap = rec.snapshot()
            pods = [p for p in snap["pods"].values() if "ready" in p["watch"] and "deleted" not in p["watch"]]
            ncs = [n for n in snap["nodeclaims"].values() if "Initialized" in n["watch"]]
            return len(pods) == replicas * size and len(ncs) >= len(pods) and _lws_ready(api, name, replicas)

        what = f"{name}: {replicas * size} pods Ready on Karpenter nodes"
        wait_for(what, done, timeout=timeout_s, interval=0.5)
        all_ready = round(time.time() - rec.t0, 3)
        time.sleep(1.0)  # the last status writes
        snap = rec.snapshot()
    created = [p["watch"]["created"] for p in snap["pods"].values()]
    nc_created = [n["watch"]["created"] for n in snap["nodeclaims"].values()]
    record = {
        "lws": name,
        "replicas": replicas,
        "size": size,
        "lws_created_at": made["metadata"]["creationTimestamp"],
        "t0": rec.t0,  # epoch seconds of the create (watch times count from it)
        **snap,
        "first_pod_s": min(created),
        "last_pod_s": max(created),
        "first_nodeclaim_s": min(nc_created),
        "last_nodeclaim_s": max(nc_created),
        "all_ready_s": all_ready,
        "batching_delay_s": round(min(nc_created) - max(created), 3),
    }
    return record


def observe_karpenter_scale_down(
    stack: Stack, lws: str, replicas: int, expect_gone: int, timeout_s: float = 150.0
) -> dict[str, Any]:
    """Scale ``lws`` to ``replicas`` and wait until ``expect_gone`` NodeClaims are deleted; returns the record
    (times from the scale call): per NodeClaim and Node the milestones as in the scale-up record, plus
    ``Consolidatable``, ``disrupted_taint``, ``deleting`` and ``deleted``; ``nodeclaims_left``."""
    from kubernetes import client

    api = stack.api_client()
    co = client.CustomObjectsApi(api)
    before = {n["metadata"]["name"] for n in _nodeclaims(api)}
    with recording(api, lws) as rec:
        time.sleep(0.5)
        rec.t0 = time.time()
        out = co.patch_namespaced_custom_object(
            LWS_GROUP, "v1", NS, "leaderworkersets", lws, {"spec": {"replicas": replicas}}
        )
        rec.lws_created = dt.datetime.now(dt.UTC).replace(microsecond=0)  # api times: from the scale's second

        def gone() -> bool:
            snap = rec.snapshot()
            return sum(1 for n in snap["nodeclaims"].values() if "deleted" in n["watch"]) >= expect_gone

        wait_for(f"{expect_gone} NodeClaims of {lws} deleted", gone, timeout=timeout_s, interval=1.0)
        time.sleep(1.0)
        snap = rec.snapshot()
    left = {n["metadata"]["name"] for n in _nodeclaims(api)}
    return {
        "lws": lws,
        "replicas": replicas,
        "generation": out["metadata"].get("generation"),
        "t0": rec.t0,  # epoch seconds of the scale call (watch times count from it)
        **snap,
        "nodeclaims_before": sorted(before),
        "nodeclaims_left": sorted(left),
    }
