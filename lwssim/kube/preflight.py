"""``lwssim preflight``: will these manifests serve on this cluster? Every check: pass / warn / fail + fix.

Cluster checks read the API (read-only, see deploy/rbac/lwssim-readonly.yaml); placement checks and the
simulation run on a snapshot (lwssim/kube/snapshot.py) through the scenario loader's own readers, so the
rules match `lwssim simulate`. Exit codes: 0 no fail, 1 a fail, 2 cannot run (ClusterError, InputError).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

from lwssim.kube import checks as C
from lwssim.kube import cluster_checks as K
from lwssim.kube import plan_check, snapshot
from lwssim.kube.checks import FAIL, PASS, WARN, Check
from lwssim.kube.client import (
    KSERVE_GROUP,
    LLMISVC_PLURAL,
    LWS_CRD,
    LWS_GROUP,
    LWS_PLURAL,
    Connection,
    api_message,
    server_version,
)
from lwssim.kube.manifests import Manifest
from lwssim.manifests.nodelist import existing_pod, node
from lwssim.manifests.priority import PriorityAdmission
from lwssim.manifests.where import Where
from lwssim.model.cluster import ExistingPod, Node
from lwssim.model.lws import Workload
from lwssim.model.scenario import ControllerConfig
from lwssim.model.workloads import PREEMPT_LOWER_PRIORITY, PriorityClass


def _created(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


class Preflight:
    """Runs the checks in order; API failures of a single check become a warn, not a crash."""

    def __init__(self, conn: Connection, manifests: list[Manifest], namespace: str) -> None:
        from kubernetes import client

        self.conn, self.manifests, self.namespace = conn, manifests, namespace
        self.api = conn.api
        self.core, self.apps = client.CoreV1Api(self.api), client.AppsV1Api(self.api)
        self.ext = client.ApiextensionsV1Api(self.api)
        self.adm = client.AdmissionregistrationV1Api(self.api)
        self.checks: list[Check] = []
        self.lws_version = "v0.7.0"
        self.lws_crd: dict | None = None

    def d(self, obj: Any) -> dict:
        return self.api.sanitize_for_serialization(obj)

    def add(self, check: Check | None) -> None:
        if check is not None:
            self.checks.append(check)

    def run(self) -> list[Check]:
        self.api_version()
        self.lws_installed()
        if any(m.kind == "LLMInferenceService" for m in self.manifests):
            self.kserve()
        self.permissions()
        self.manifest_checks()
        return self.checks

    # -- cluster ------------------------------------------------------------------------------------------

    def api_version(self) -> None:
        git, major_minor = server_version(self.conn)  # ClusterError (exit 2) when unreachable
        self.add(K.kubernetes_version(self.conn.server, git, major_minor))

    def lws_installed(self) -> None:
        from kubernetes.client import ApiException

        try:
            self.lws_crd = self.d(self.ext.read_custom_resource_definition(LWS_CRD))
            self.add(K.lws_crd(True, [], self.lws_version))
        except ApiException as exc:
            if exc.status != 404:
                self.add(Check("lws-crd", WARN, f"cannot read CRDs: {api_message(exc)}"))
            else:
                subjects = [f"{m.kind}/{m.name}" for m in self.manifests]
                self.add(K.lws_crd(False, subjects, self.lws_version))
        hooks = self.webhooks()
        self.controller(hooks)

    def webhooks(self) -> list[dict]:
        """LWS webhook configurations, each with ``kind`` mutating or validating."""
        found: list[dict] = []
        try:
            for kind, lst in (
                ("mutating", self.adm.list_mutating_webhook_configuration()),
                ("validating", self.adm.list_validating_webhook_configuration()),
            ):
                found += [
                    {"kind": kind, **cfg} for cfg in self.d(lst).get("items") or [] if K.is_lws_webhook(cfg)
                ]
        except Exception as exc:  # noqa: BLE001
            self.add(Check("lws-webhooks", WARN, f"cannot list webhook configurations: {api_message(exc)}"))
            return []
        self.add(K.lws_webhooks(found))
        return found

    def controller(self, hooks: list[dict]) -> None:
        """Deployment in lws-system if present; else a reachable webhook endpoint counts as running."""
        try:
            deps = self.d(self.apps.list_namespaced_deployment(K.LWS_NAMESPACE)).get("items") or []
        except Exception:  # noqa: BLE001 - no namespace or no rights: fall back to the webhook
            deps = []
        check, self.lws_version = K.lws_controller(deps, hooks, _reachable, self.lws_version)
        self.add(check)

    def kserve(self) -> None:
        """KServe's controller watches LWS only if the LWS CRD existed when it started (kserve#6043)."""
        from kubernetes.client import ApiException

        try:
            self.ext.read_custom_resource_definition(f"{LLMISVC_PLURAL}.{KSERVE_GROUP}")
        except ApiException:
            self.add(Check("kserve", FAIL, "LLMInferenceService CRD not found", "install KServe (v0.17+)"))
            return
        try:
            deps = self.d(self.apps.list_deployment_for_all_namespaces()).get("items") or []
        except Exception as exc:  # noqa: BLE001
            self.add(Check("kserve", WARN, f"cannot list deployments: {api_message(exc)}"))
            return
        dep = next((x for x in deps if x["metadata"]["name"].startswith("kserve-controller")), None)
        if dep is None:
            self.add(Check("kserve", FAIL, "KServe controller deployment not found", "install KServe"))
            return
        ns = dep["metadata"]["namespace"]
        sel = ",".join(
            f"{k}={v}" for k, v in ((dep["spec"].get("selector") or {}).get("matchLabels") or {}).items()
        )
        pods = self.d(self.core.list_namespaced_pod(ns, label_selector=sel)).get("items") or []
        started = min((p["status"].get("startTime") or _created(p) for p in pods), default=_created(dep))
        crd_at = _created(self.lws_crd or {})
        if crd_at and started and started < crd_at:
            self.add(
                Check(
                    "kserve",
                    FAIL,
                    f"the KServe controller started ({started}) before the LWS CRD "
                    f"existed ({crd_at}): it does not watch LeaderWorkerSets, so LLMInferenceServices "
                    "never become Ready",
                    f"kubectl -n {ns} rollout restart deployment {dep['metadata']['name']}",
                )
            )
        else:
            self.add(
                Check(
                    "kserve",
                    PASS,
                    f"KServe controller {ns}/{dep['metadata']['name']} started after the LWS CRD existed",
                )
            )

    def permissions(self) -> None:
        from kubernetes import client

        auth = client.AuthorizationV1Api(self.api)
        wanted = [(LWS_GROUP, LWS_PLURAL)]
        if any(m.kind == "LLMInferenceService" for m in self.manifests):
            wanted.append((KSERVE_GROUP, LLMISVC_PLURAL))
        denied = []
        for group, plural in wanted:
            for verb in ("create", "patch"):
                body = client.V1SelfSubjectAccessReview(
                    spec=client.V1SelfSubjectAccessReviewSpec(
                        resource_attributes=client.V1ResourceAttributes(
                            group=group, resource=plural, verb=verb, namespace=self.namespace
                        )
                    )
                )
                try:
                    if not auth.create_self_subject_access_review(body).status.allowed:
                        denied.append(f"{verb} {plural}.{group}")
                except Exception as exc:  # noqa: BLE001
                    self.add(Check("permissions", WARN, f"cannot ask the API: {api_message(exc)}"))
                    return
        wanted_verbs = [f"{v} {plural}.{group}" for group, plural in wanted for v in ("create", "patch")]
        self.add(K.permissions(self.namespace, denied, wanted_verbs))

    # -- manifests against the snapshot --------------------------------------------------------------------

    def manifest_checks(self) -> None:
        nodes, existing = read_snapshot(snapshot.take(self.conn))
        found, workloads = manifest_checks(self.manifests, nodes, existing, self.lws_version)
        self.checks += found
        workloads = self.admitted(workloads)
        for w in workloads:
            self.scheduler(w)
        self.quota(workloads)
        self.checks += simulation(nodes, existing, workloads, self.lws_version, self.checks)

    def admitted(self, workloads: list[Workload]) -> list[Workload]:
        """The workloads' pods with the priority the cluster's Priority admission plugin would give them
        (its PriorityClasses); an unknown class refuses the manifest (exit 2), as the cluster would."""
        from kubernetes import client

        if not workloads:
            return workloads
        try:
            items = self.d(client.SchedulingV1Api(self.api).list_priority_class()).get("items") or []
        except Exception as exc:  # noqa: BLE001
            self.add(Check("priority", WARN, f"cannot list PriorityClasses: {api_message(exc)}"))
            return workloads
        admission = cluster_admission(items)
        where = {w.name: m.where.key("spec") for m in self.manifests for w in m.workloads}
        out = []
        for w in workloads:
            at = where.get(w.name, Where(w.source).key("spec"))
            at = at.key("leaderWorkerTemplate") if w.kind == "LeaderWorkerSet" else at
            out.append(replace(w, lws=admission.admit_lws(w.lws, at)))
        return out

    def scheduler(self, w: Any) -> None:
        names = {t.scheduler_name for _, t, _ in C.roles(w)} - {"default-scheduler"}
        for name in sorted(names):
            try:
                deps = self.d(self.apps.list_deployment_for_all_namespaces()).get("items") or []
            except Exception as exc:  # noqa: BLE001
                self.add(
                    Check(
                        "gang-scheduler", WARN, f"cannot list deployments: {api_message(exc)}", subject=w.name
                    )
                )
                return
            self.add(K.gang_scheduler(w.name, name, deps))

    def quota(self, workloads: list[Any]) -> None:
        if not workloads:
            return
        try:
            quotas = self.d(self.core.list_namespaced_resource_quota(self.namespace)).get("items") or []
        except Exception as exc:  # noqa: BLE001
            self.add(Check("resource-quota", WARN, f"cannot list ResourceQuotas: {api_message(exc)}"))
            return
        requests, pods = C.total_requests(workloads)
        found = C.quota(requests, pods, quotas, ", ".join(w.name for w in workloads))
        self.checks += found or [Check("resource-quota", PASS, f"no ResourceQuota in {self.namespace}")]


def cluster_admission(items: list[dict]) -> PriorityAdmission:
    """The Priority admission plugin with a cluster's PriorityClasses (``list_priority_class`` items)."""
    admission = PriorityAdmission()
    at = Where("cluster").key("priorityclasses")
    for i, item in enumerate(items):
        name = str((item.get("metadata") or {}).get("name", ""))
        if name in admission.classes:
            continue  # system-cluster-critical, system-node-critical: built in
        pc = PriorityClass(
            name,
            int(item.get("value") or 0),
            bool(item.get("globalDefault")),
            str(item.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY),
        )
        admission.add(pc, at.index(i))
    return admission


def read_snapshot(snap: dict) -> tuple[list[Node], list[ExistingPod]]:
    """Nodes and bound pods of a snapshot ``List`` (snapshot.py), through the scenario loader's readers."""
    nodes, existing = [], []
    items_at = Where("snapshot").key("items")
    for i, item in enumerate(snap["items"]):
        if item["kind"] == "Node":
            nodes.append(node(item, items_at.index(i)))
        else:
            pod = existing_pod(item, items_at.index(i))
            if pod is not None:
                existing.append(pod)
    return nodes, existing


def manifest_checks(
    manifests: list[Manifest], nodes: list[Node], existing: list[ExistingPod], lws_version: str
) -> tuple[list[Check], list[Workload]]:
    """The checks of the manifests against a snapshot, no API call: raw-manifest traps, then placement
    per workload. Raises a manifest's InputError (exit 2) when the LWS webhook would reject it for a
    reason no check reports."""
    version = K.version_of(lws_version) or (0, 7, 0)
    checks: list[Check] = []
    workloads: list[Workload] = []
    for m in manifests:
        subject = f"{m.kind}/{m.name}"
        raw = [C.name_length(m.doc, subject), C.max_unavailable_trap(m.doc, subject, version)]
        checks += raw
        if m.error is not None:
            if not any(c.status == FAIL for c in raw):
                raise m.error
            continue
        for w in m.workloads:
            checks += [C.resources_exist(w, nodes), C.node_match(w, nodes)]
            topology = C.exclusive_topology(w, nodes, existing)
            checks += [topology] if topology is not None else []
            workloads.append(w)
    return checks, workloads


def simulation(
    nodes: list[Node],
    existing: list[ExistingPod],
    workloads: list[Workload],
    lws_version: str,
    so_far: list[Check],
) -> list[Check]:
    """The plan simulated on the snapshot, unless a placement check already failed."""
    if any(c.status == FAIL for c in so_far if c.name in ("resources-exist", "node-match")):
        return [Check("simulation", WARN, "skipped: a placement check failed")]
    return plan_check.simulate(nodes, existing, workloads, ControllerConfig(lws_version=lws_version))


def _reachable(url: str) -> bool:
    """A TLS handshake with the webhook endpoint succeeds (certificate not verified: liveness only)."""
    u = urlparse(url)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((u.hostname or "", u.port or 443), timeout=3) as sock,
            ctx.wrap_socket(sock, server_hostname=u.hostname),
        ):
            return True
    except OSError:
        return False


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


def to_doc(conn: Connection, namespace: str, checks: list[Check]) -> dict:
    return {
        "apiVersion": "lwssim.io/v1alpha1",
        "kind": "PreflightReport",
        "context": conn.context,
        "namespace": namespace,
        "passed": exit_code(checks) == 0,
        "checks": [c.to_dict() for c in checks],
    }


def render_table(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    colors = {PASS: "green", WARN: "yellow", FAIL: "red"}
    table = Table(title=f"preflight: context {doc['context']}, namespace {doc['namespace']}")
    for col in ("status", "check", "subject", "message", "fix"):
        table.add_column(col, overflow="fold")
    for c in doc["checks"]:
        s = c["status"]
        table.add_row(
            f"[{colors[s]}]{s.upper()}[/]", c["name"], c.get("subject", ""), c["message"], c.get("fix", "")
        )
    Console(width=160).print(table)
