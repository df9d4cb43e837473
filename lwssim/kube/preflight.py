"""``lwssim preflight``: will these manifests serve on this cluster? Every check: pass / warn / fail + fix.

Cluster checks read the API (read-only, see deploy/rbac/lwssim-readonly.yaml); placement checks and the
simulation run on a snapshot (lwssim/kube/snapshot.py) through the scenario loader's own readers, so the
rules match `lwssim simulate`. Exit codes: 0 no fail, 1 a fail, 2 cannot run (ClusterError, InputError).
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any
from urllib.parse import urlparse

from lwssim.kube import checks as C
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
from lwssim.manifests.where import Where
from lwssim.model.scenario import ControllerConfig

MIN_K8S = (1, 27)  # StatefulSet start ordinals: older versions nest worker sts forever (lws#391)
MIN_VOLCANO = (1, 12)  # Volcano <= v1.11 rejects pods before their PodGroup exists
# (docs/lws-v0.7-semantics.md §4)
VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def _version(text: str) -> tuple[int, int, int] | None:
    m = VERSION.search(text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def _image_version(deploy: dict) -> str:
    for c in ((deploy.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        tag = str(c.get("image", "")).rsplit(":", 1)
        if len(tag) == 2 and _version(tag[1]):
            return tag[1]
    return ""


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
        git, (major, minor) = server_version(self.conn)  # ClusterError (exit 2) when unreachable
        ok = (major, minor) >= MIN_K8S
        self.add(
            Check(
                "kubernetes-version",
                PASS if ok else FAIL,
                f"API server {self.conn.server} answers, Kubernetes {git}",
                "" if ok else "LWS needs Kubernetes 1.27+ (StatefulSet start ordinals); upgrade the cluster",
            )
        )

    def lws_installed(self) -> None:
        from kubernetes.client import ApiException

        try:
            self.lws_crd = self.d(self.ext.read_custom_resource_definition(LWS_CRD))
            self.add(Check("lws-crd", PASS, f"CRD {LWS_CRD} is installed"))
        except ApiException as exc:
            if exc.status != 404:
                self.add(Check("lws-crd", WARN, f"cannot read CRDs: {api_message(exc)}"))
            else:
                self.add(
                    Check(
                        "lws-crd",
                        FAIL,
                        "LeaderWorkerSet CRD not found",
                        "install LWS: kubectl apply --server-side -f https://github.com/kubernetes-sigs/"
                        "lws/releases/download/v0.7.0/manifests.yaml",
                    )
                )
        hooks = self.webhooks()
        self.controller(hooks)

    def webhooks(self) -> list[dict]:
        """LWS webhook configurations: any whose rules name the LWS API group or whose name starts lws-."""
        found: list[dict] = []
        try:
            for kind, lst in (
                ("mutating", self.adm.list_mutating_webhook_configuration()),
                ("validating", self.adm.list_validating_webhook_configuration()),
            ):
                for cfg in self.d(lst).get("items") or []:
                    hooks = cfg.get("webhooks") or []
                    groups = {
                        g for h in hooks for r in h.get("rules") or [] for g in r.get("apiGroups") or []
                    }
                    if LWS_GROUP in groups or cfg["metadata"]["name"].startswith("lws-"):
                        found.append({"kind": kind, **cfg})
        except Exception as exc:  # noqa: BLE001
            self.add(Check("lws-webhooks", WARN, f"cannot list webhook configurations: {api_message(exc)}"))
            return []
        kinds = {f["kind"] for f in found}
        if kinds == {"mutating", "validating"}:
            names = ", ".join(sorted(f["metadata"]["name"] for f in found))
            self.add(Check("lws-webhooks", PASS, f"LWS webhooks registered ({names})"))
        else:
            missing = sorted({"mutating", "validating"} - kinds)
            self.add(
                Check(
                    "lws-webhooks",
                    FAIL,
                    f"LWS {' and '.join(missing)} webhook configuration not found: "
                    "LWS defaults and pod labels would be missing",
                    "reinstall LWS (its manifests create lws-{mutating,validating}-webhook-configuration)",
                )
            )
        return found

    def controller(self, hooks: list[dict]) -> None:
        """Deployment in lws-system if present; else a reachable webhook endpoint counts as running."""
        try:
            deps = self.d(self.apps.list_namespaced_deployment("lws-system")).get("items") or []
        except Exception:  # noqa: BLE001 - no namespace or no rights: fall back to the webhook
            deps = []
        dep = next(
            (x for x in deps if "lws" in x["metadata"]["name"] or "controller" in x["metadata"]["name"]), None
        )
        if dep is not None:
            ready = (dep.get("status") or {}).get("readyReplicas") or 0
            version = _image_version(dep)
            if version:
                self.lws_version = version
            ok = ready > 0
            self.add(
                Check(
                    "lws-controller",
                    PASS if ok else FAIL,
                    f"deployment lws-system/{dep['metadata']['name']} {version or '(version unknown)'}: "
                    f"{ready} ready replica(s)",
                    "" if ok else "check the LWS controller pods' logs",
                    details={"version": version, "decidedBy": "deployment"},
                )
            )
            return
        url = next(
            (
                h.get("clientConfig", {}).get("url")
                for cfg in hooks
                for h in cfg.get("webhooks") or []
                if h.get("clientConfig", {}).get("url")
            ),
            None,
        )
        if url and _reachable(url):
            self.add(
                Check(
                    "lws-controller",
                    PASS,
                    f"no deployment in lws-system; the LWS webhook endpoint {url} "
                    "answers, so the controller runs (outside the cluster); version unknown, "
                    f"simulating {self.lws_version}",
                    details={"decidedBy": "webhook endpoint"},
                )
            )
        elif url:
            self.add(
                Check(
                    "lws-controller",
                    FAIL,
                    f"the LWS webhook endpoint {url} does not answer: every LWS "
                    "and LWS pod creation would be rejected",
                    "start the LWS controller",
                )
            )
        else:
            self.add(
                Check(
                    "lws-controller",
                    FAIL if not hooks else WARN,
                    "no LWS controller deployment found in lws-system",
                    "install LWS",
                )
            )

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
        if denied:
            self.add(
                Check(
                    "permissions",
                    FAIL,
                    f"you may not {', '.join(denied)} in namespace {self.namespace}",
                    "bind deploy/rbac/lwssim-apply.yaml's ClusterRole to you in this namespace",
                )
            )
        else:
            self.add(Check("permissions", PASS, f"you may create and patch the objects in {self.namespace}"))

    # -- manifests against the snapshot --------------------------------------------------------------------

    def manifest_checks(self) -> None:
        snap = snapshot.take(self.conn)
        nodes, existing = [], []
        items_at = Where("snapshot").key("items")
        for i, item in enumerate(snap["items"]):
            if item["kind"] == "Node":
                nodes.append(node(item, items_at.index(i)))
            else:
                pod = existing_pod(item, items_at.index(i))
                if pod is not None:
                    existing.append(pod)
        version = _version(self.lws_version) or (0, 7, 0)
        workloads = []
        for m in self.manifests:
            subject = f"{m.kind}/{m.name}"
            raw = [C.name_length(m.doc, subject), C.max_unavailable_trap(m.doc, subject, version)]
            self.checks += raw
            if m.error is not None:
                if not any(c.status == FAIL for c in raw):
                    raise m.error  # a manifest the LWS webhook would reject: bad input, exit 2
                continue
            for w in m.workloads:
                self.add(C.resources_exist(w, nodes))
                self.add(C.node_match(w, nodes))
                self.add(C.exclusive_topology(w, nodes, existing))
                self.scheduler(w)
                workloads.append(w)
        self.quota(workloads)
        controller = ControllerConfig(lws_version=self.lws_version)
        if any(c.status == FAIL for c in self.checks if c.name in ("resources-exist", "node-match")):
            self.add(Check("simulation", WARN, "skipped: a placement check failed"))
        else:
            self.checks += plan_check.simulate(nodes, existing, workloads, controller)

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
            dep = next((x for x in deps if x["metadata"]["name"] in (name, f"{name}-scheduler")), None)
            if dep is None:
                self.add(
                    Check(
                        "gang-scheduler",
                        FAIL,
                        f'pods name schedulerName "{name}" but no deployment of '
                        "that scheduler was found: they would stay Pending",
                        f"install {name}, or remove schedulerName",
                        w.name,
                    )
                )
                continue
            version = _version(_image_version(dep))
            if name == "volcano" and version is not None and version[:2] < MIN_VOLCANO:
                self.add(
                    Check(
                        "gang-scheduler",
                        FAIL,
                        f"Volcano {_image_version(dep)} rejects pods before "
                        "their PodGroup exists, so LWS groups are never created",
                        "upgrade Volcano to v1.12+",
                        w.name,
                    )
                )
            else:
                self.add(
                    Check(
                        "gang-scheduler",
                        PASS,
                        f"scheduler {dep['metadata']['namespace']}/"
                        f"{dep['metadata']['name']} {_image_version(dep)} is installed",
                        subject=w.name,
                    )
                )

    def quota(self, workloads: list[Any]) -> None:
        if not workloads:
            return
        try:
            quotas = self.d(self.core.list_namespaced_resource_quota(self.namespace)).get("items") or []
        except Exception as exc:  # noqa: BLE001
            self.add(Check("resource-quota", WARN, f"cannot list ResourceQuotas: {api_message(exc)}"))
            return
        requests, pods = C.total_requests(workloads)
        found = C.quota(requests, pods, quotas)
        self.checks += found or [Check("resource-quota", PASS, f"no ResourceQuota in {self.namespace}")]


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
