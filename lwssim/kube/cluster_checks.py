"""Preflight's checks of what the cluster has installed: pure functions of the API objects it read.

``preflight.py`` reads the objects (read-only calls); the verdicts, and their words and numbers, are here,
so each can be tested from plain dicts without a cluster. A fail names what is missing or short, what
is wanted and what was found, as the placement checks do (``checks.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lwssim.kube.checks import FAIL, PASS, WARN, Check, Shortfall
from lwssim.kube.client import LWS_CRD, LWS_GROUP

MIN_K8S = (1, 27)  # StatefulSet start ordinals: older versions nest worker sts forever (lws#391)
MIN_VOLCANO = (1, 12)  # Volcano <= v1.11 rejects pods before their PodGroup exists
# (docs/lws-v0.7-semantics.md §4)
VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
LWS_RELEASE = "https://github.com/kubernetes-sigs/lws/releases/download/{version}/manifests.yaml"
LWS_NAMESPACE = "lws-system"
WEBHOOK_KINDS = ("mutating", "validating")
WITHOUT_WEBHOOK = {
    "mutating": "LWS defaults and the pods' LWS labels would be missing",
    "validating": "LeaderWorkerSets would not be validated",
}


def version_of(text: str) -> tuple[int, int, int] | None:
    m = VERSION.search(text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def image_version(deploy: dict) -> str:
    """The version tag of the deployment's first container image that carries one."""
    for c in ((deploy.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        tag = str(c.get("image", "")).rsplit(":", 1)
        if len(tag) == 2 and version_of(tag[1]):
            return tag[1]
    return ""


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def kubernetes_version(server: str, git: str, major_minor: tuple[int, int]) -> Check:
    ok = major_minor >= MIN_K8S
    message = f"API server {server} answers, Kubernetes {git}"
    if ok:
        return Check("kubernetes-version", PASS, message)
    return Check(
        "kubernetes-version",
        FAIL,
        f"{message}: LWS needs {_dotted(MIN_K8S)}+ (StatefulSet start ordinals, lws#391); "
        f"{_dotted(major_minor)} is older",
        f"upgrade the cluster from {_dotted(major_minor)} to {_dotted(MIN_K8S)} or later",
        shortfalls=[Shortfall("kubernetesVersion", _dotted(MIN_K8S), _dotted(major_minor))],
    )


def lws_crd(found: bool, subjects: list[str], version: str) -> Check:
    """The LeaderWorkerSet CRD is served: else every LWS (and LLMInferenceService's LWS) is refused."""
    if found:
        return Check("lws-crd", PASS, f"CRD {LWS_CRD} is installed")
    what = ", ".join(subjects) or "no LeaderWorkerSet"
    return Check(
        "lws-crd",
        FAIL,
        f"LeaderWorkerSet CRD not found: the API server has no CustomResourceDefinition {LWS_CRD}, so "
        f"{what} cannot be created",
        f"install LWS {version}: kubectl apply --server-side -f {LWS_RELEASE.format(version=version)}",
        shortfalls=[Shortfall("CustomResourceDefinition", LWS_CRD, None)],
    )


def is_lws_webhook(cfg: dict) -> bool:
    """A webhook configuration of LWS: its rules name the LWS API group, or its name starts ``lws-``."""
    hooks = cfg.get("webhooks") or []
    groups = {g for h in hooks for r in h.get("rules") or [] for g in r.get("apiGroups") or []}
    return LWS_GROUP in groups or str(cfg["metadata"]["name"]).startswith("lws-")


def lws_webhooks(found: list[dict]) -> Check:
    """Both LWS webhook configurations are registered; ``found`` holds them with ``kind`` set to
    mutating or validating."""
    kinds = sorted({f["kind"] for f in found})
    names = ", ".join(sorted(f"{f['metadata']['name']} ({f['kind']})" for f in found))
    if kinds == list(WEBHOOK_KINDS):
        return Check("lws-webhooks", PASS, f"LWS webhooks registered ({names})")
    missing = [k for k in WEBHOOK_KINDS if k not in kinds]
    configs = [f"lws-{k}-webhook-configuration" for k in missing]
    return Check(
        "lws-webhooks",
        FAIL,
        f"{len(kinds)} of the 2 LWS webhook configurations found ({names or 'none'}); no "
        f"{' and no '.join(configs)}: {'; '.join(WITHOUT_WEBHOOK[k] for k in missing)}",
        f"reinstall LWS (its manifests create {', '.join(configs)})",
        shortfalls=[Shortfall("webhookConfigurations", list(WEBHOOK_KINDS), kinds)],
    )


def _webhook_url(hooks: list[dict]) -> str | None:
    return next(
        (
            h.get("clientConfig", {}).get("url")
            for cfg in hooks
            for h in cfg.get("webhooks") or []
            if h.get("clientConfig", {}).get("url")
        ),
        None,
    )


def lws_controller(
    deployments: list[dict], hooks: list[dict], reachable: Callable[[str], bool], assumed: str
) -> tuple[Check, str]:
    """The LWS controller runs: its deployment in lws-system has ready replicas, or (no deployment, as
    on the emulator) its webhook endpoint answers. Also returns the version found, else ``assumed``."""
    dep = next(
        (x for x in deployments if "lws" in x["metadata"]["name"] or "controller" in x["metadata"]["name"]),
        None,
    )
    if dep is not None:
        name = f"{LWS_NAMESPACE}/{dep['metadata']['name']}"
        ready = (dep.get("status") or {}).get("readyReplicas") or 0
        wanted = (dep.get("spec") or {}).get("replicas")
        wanted = 1 if wanted is None else wanted
        version = image_version(dep)
        message = f"deployment {name} {version or '(version unknown)'}: {ready}/{wanted} replica(s) ready"
        details = {"version": version, "decidedBy": "deployment"}
        if ready > 0:
            return Check("lws-controller", PASS, message, details=details), version or assumed
        return (
            Check(
                "lws-controller",
                FAIL,
                f"{message}: LeaderWorkerSets would get no StatefulSets and no pods",
                f"check the pods of deployment {name} (kubectl -n {LWS_NAMESPACE} describe pods; their logs)",
                details=details,
                shortfalls=[Shortfall("readyReplicas", wanted, ready)],
            ),
            version or assumed,
        )
    url = _webhook_url(hooks)
    if url and reachable(url):
        message = (
            f"no deployment in {LWS_NAMESPACE}; the LWS webhook endpoint {url} answers, so the controller "
            f"runs (outside the cluster); version unknown, simulating {assumed}"
        )
        return Check("lws-controller", PASS, message, details={"decidedBy": "webhook endpoint"}), assumed
    if url:
        check = Check(
            "lws-controller",
            FAIL,
            f"no deployment in {LWS_NAMESPACE} and the LWS webhook endpoint {url} does not answer (no TLS "
            "handshake): every LWS and LWS pod creation would be rejected",
            f"start the LWS controller serving {url}",
            shortfalls=[Shortfall("webhookEndpoint", url, None)],
        )
        return check, assumed
    check = Check(
        "lws-controller",
        FAIL if not hooks else WARN,
        f"no LWS controller deployment among the {len(deployments)} deployment(s) in {LWS_NAMESPACE}, "
        "and no webhook endpoint URL to try",
        f"install LWS {assumed}: kubectl apply --server-side -f {LWS_RELEASE.format(version=assumed)}",
        shortfalls=[Shortfall("controllerDeployment", LWS_NAMESPACE, None)],
    )
    return check, assumed


def permissions(namespace: str, denied: list[str], wanted: list[str]) -> Check:
    if not denied:
        return Check("permissions", PASS, f"you may create and patch the objects in {namespace}")
    return Check(
        "permissions",
        FAIL,
        f"you may not {', '.join(denied)} in namespace {namespace} ({len(denied)} of {len(wanted)} "
        "verbs denied)",
        "bind deploy/rbac/lwssim-apply.yaml's ClusterRole to you in this namespace",
        shortfalls=[Shortfall("RBAC", wanted, [w for w in wanted if w not in denied])],
    )


def gang_scheduler(workload: str, name: str, deployments: list[dict]) -> Check:
    """The scheduler the pods name is installed, and is a Volcano that creates LWS groups (v1.12+)."""
    dep = next((x for x in deployments if x["metadata"]["name"] in (name, f"{name}-scheduler")), None)
    if dep is None:
        return Check(
            "gang-scheduler",
            FAIL,
            f'pods name schedulerName "{name}" but none of the {len(deployments)} deployments is '
            f'"{name}" or "{name}-scheduler": they would stay Pending',
            f"install {name}, or remove schedulerName",
            workload,
            shortfalls=[Shortfall("schedulerName", name, None)],
        )
    tag = image_version(dep)
    version = version_of(tag)
    if name == "volcano" and version is not None and version[:2] < MIN_VOLCANO:
        return Check(
            "gang-scheduler",
            FAIL,
            f"Volcano {tag} (deployment {dep['metadata']['namespace']}/{dep['metadata']['name']}) rejects "
            f"pods before their PodGroup exists, so LWS groups are never created; v{_dotted(MIN_VOLCANO)}+ "
            "does not",
            f"upgrade Volcano from {tag} to v{_dotted(MIN_VOLCANO)} or later",
            workload,
            shortfalls=[Shortfall("volcanoVersion", f"v{_dotted(MIN_VOLCANO)}", tag)],
        )
    return Check(
        "gang-scheduler",
        PASS,
        f"scheduler {dep['metadata']['namespace']}/{dep['metadata']['name']} {tag} is installed",
        subject=workload,
    )
