"""Kueue v0.17.0's manager on the emulator (``up --with kueue``): CRDs, webhooks, Configuration, start.

Everything comes from the tag's module source in the Go module cache (``sigs.k8s.io/kueue@v0.17.0``), as the
LWS CRDs do; nothing of Kueue is copied into the repository:

- **CRDs**: every file of ``config/components/crd/bases`` (v1beta2 is the storage version, v1beta1 is served
  and deprecated). The conversion-webhook patches that ``config/components/crd/kustomization.yaml``
  lists (LocalQueue, ClusterQueue, Cohort, Workload, MultiKueueCluster; not ResourceFlavor, whose patch
  is commented out) are applied, with ``clientConfig.url`` ``https://127.0.0.1:<port>/convert`` and our
  CA: without them the API server would serve v1beta1 objects by only rewriting ``apiVersion`` (strategy
  None), which is not what Kueue does, and ``lwssim.kube.apply`` accepts v1beta1 too. The manager's
  webhook server answers ``/convert``.
- **Webhooks**: ``config/components/webhook/manifests.yaml`` with the namespaceSelector patches of its
  ``kustomization.yaml`` (pod, deployment, statefulset: NotIn kube-system, kueue-system), renamed
  ``kueue-{mutating,validating}-webhook-configuration`` and pointed at ``https://127.0.0.1:<port><path>`` with
  our CA. Only the webhooks of Kueue's own kinds and of the enabled frameworks are installed: a webhook of
  a framework that is off answers nothing, and its ``failurePolicy: Fail`` would refuse every Deployment,
  Job, ... created.
- **Configuration** (``config.kueue.x-k8s.io/v1beta2``): :func:`default_config`, the user's fields merged over
  it (:func:`merge`).
- **Certificates**: the webhook serves the stack's webhook certificate (SAN 127.0.0.1, signed by our CA).
  With ``internalCertManagement.enable: false`` the manager also reads a metrics certificate from the
  hard-coded ``/etc/kueue/metrics/certs/tls.{crt,key}`` and exits when it is missing (``cmd/kueue/main.go``,
  ``certwatcher.New`` reads the files at once), even with metrics off. The manager therefore runs in a user +
  mount namespace of its own (``unshare --user --map-root-user --mount``) where an overlay puts
  ``<state>/kueue-etc`` over ``/etc``: the host's ``/etc`` is neither written nor needed as root.
- The visibility server (an aggregated API server on ``0.0.0.0:8082`` by default, VisibilityOnDemand, beta)
  is turned off with its feature gate: nothing may listen beyond 127.0.0.1 and nothing uses it here.
"""

from __future__ import annotations

import base64
import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from lwssim.emulator import build

GROUP = "kueue.x-k8s.io"
VERSION = "v1beta2"
CONFIG_API = "config.kueue.x-k8s.io/v1beta2"
LWS_FRAMEWORK = "leaderworkerset.x-k8s.io/leaderworkerset"
DEFAULT_FRAMEWORKS = (LWS_FRAMEWORK, "pod")
NAMESPACE = "kueue-system"
METRICS_CERT_DIR = "/etc/kueue/metrics/certs"  # cmd/kueue/main.go at v0.17.0, hard-coded
# The webhooks each framework registers (config/components/webhook/manifests.yaml names them m<x>/v<x>.kb.io).
FRAMEWORK_WEBHOOKS = {
    "pod": "pod",
    LWS_FRAMEWORK: "leaderworkerset",
    "batch/job": "job",
    "deployment": "deployment",
    "statefulset": "statefulset",
    "jobset.x-k8s.io/jobset": "jobset",
}
# Webhooks of Kueue's own kinds: always installed.
OWN_KIND_PATH = "-kueue-x-k8s-io-"


def module_dir() -> Path:
    """Kueue's module source in the Go module cache (downloaded again if missing)."""
    return build.module_dir(build.KUEUE_MODULE, build.KUEUE_VERSION)


def default_config(webhook_port: int, health_port: int, cert_dir: Path) -> dict[str, Any]:
    """The Configuration the emulator runs Kueue with before the user's fields are merged over it."""
    return {
        "apiVersion": CONFIG_API,
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "webhook": {"host": "127.0.0.1", "port": webhook_port, "certDir": str(cert_dir)},
        # "0" turns controller-runtime's metrics server off (the cert watcher is still built, see above).
        "metrics": {"bindAddress": "0"},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "clientConnection": {"qps": 50, "burst": 100},  # as the shipped controller_manager_config.yaml
        "featureGates": {"VisibilityOnDemand": False},
        "integrations": {"frameworks": list(DEFAULT_FRAMEWORKS)},
    }


def merge(base: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """``user`` over ``base``: mappings merge key by key, anything else (lists too) replaces."""
    out = copy.deepcopy(base)
    for key, value in user.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def user_config(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The user's fields of a Kueue Configuration (a file as Kueue's own, or a scenario's
    ``spec.controller.kueue``): ``enabled``, ``apiVersion`` and ``kind`` are dropped."""
    return {k: v for k, v in (doc or {}).items() if k not in ("enabled", "apiVersion", "kind")}


def crds(kdir: Path, ca_pem: bytes, webhook_port: int) -> list[dict[str, Any]]:
    """Every CRD of the tag, with the conversion-webhook patches its kustomization applies."""
    base = kdir / "config" / "components" / "crd"
    kustom = yaml.safe_load((base / "kustomization.yaml").read_text())
    converted = set()
    for patch in kustom.get("patches") or []:
        doc = yaml.safe_load((base / patch["path"]).read_text())
        if ((doc.get("spec") or {}).get("conversion") or {}).get("strategy") == "Webhook":
            converted.add(doc["metadata"]["name"])
    ca = base64.b64encode(ca_pem).decode()
    out = []
    for f in sorted((base / "bases").glob("*.yaml")):
        crd = yaml.safe_load(f.read_text())
        if crd["metadata"]["name"] in converted:
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {"url": f"https://127.0.0.1:{webhook_port}/convert", "caBundle": ca},
                    "conversionReviewVersions": ["v1"],
                },
            }
        out.append(crd)
    return out


def _kustomize_patches(base: Path) -> dict[str, dict[str, Any]]:
    """Webhook name -> the fields the kustomization's strategic-merge patches set on it."""
    kustom = yaml.safe_load((base / "kustomization.yaml").read_text())
    out: dict[str, dict[str, Any]] = {}
    for item in kustom.get("patches") or []:
        patch = (
            yaml.safe_load(item["patch"])
            if "patch" in item
            else yaml.safe_load((base / item["path"]).read_text())
        )
        for wh in patch.get("webhooks") or []:
            out.setdefault(wh["name"], {}).update({k: v for k, v in wh.items() if k != "name"})
    return out


def webhook_configurations(
    kdir: Path, ca_pem: bytes, webhook_port: int, frameworks: list[str]
) -> list[dict[str, Any]]:
    """The mutating and validating configurations as deployed, for Kueue's kinds and ``frameworks``."""
    base = kdir / "config" / "components" / "webhook"
    docs = [d for d in yaml.safe_load_all((base / "manifests.yaml").read_text()) if d]
    patches = _kustomize_patches(base)
    wanted = {FRAMEWORK_WEBHOOKS[f] for f in frameworks if f in FRAMEWORK_WEBHOOKS}
    ca = base64.b64encode(ca_pem).decode()
    out = []
    for doc in docs:
        kept = []
        for wh in doc["webhooks"]:
            path = wh["clientConfig"]["service"]["path"]
            short = wh["name"].split(".", 1)[0][1:]  # mpod.kb.io -> pod
            if OWN_KIND_PATH not in path and short not in wanted:
                continue
            wh.update(copy.deepcopy(patches.get(wh["name"], {})))
            wh["clientConfig"] = {"url": f"https://127.0.0.1:{webhook_port}{path}", "caBundle": ca}
            kept.append(wh)
        prefix = "kueue-" + ("mutating" if doc["kind"].startswith("Mutating") else "validating")
        out.append({**doc, "metadata": {"name": f"{prefix}-webhook-configuration"}, "webhooks": kept})
    return out


def prepare_etc(state_dir: Path, webhook_cert_dir: Path) -> Path:
    """``<state>/kueue-etc``: the upper layer of the overlay on ``/etc`` (the metrics certificate files)."""
    upper = state_dir / "kueue-etc" / "upper"
    certs = upper / METRICS_CERT_DIR.removeprefix("/etc/")
    certs.mkdir(parents=True, exist_ok=True)
    for name in ("tls.crt", "tls.key"):
        shutil.copyfile(webhook_cert_dir / name, certs / name)
    (state_dir / "kueue-etc" / "work").mkdir(exist_ok=True)
    return state_dir / "kueue-etc"


def wrapped_argv(etc: Path, argv: list[str]) -> list[str]:
    """``argv`` run in a user + mount namespace whose ``/etc`` is an overlay with ``etc``'s upper layer; the
    shell ``exec``s the manager, so the recorded PID is the manager's."""
    mount = (
        f'mount -t overlay overlay -o lowerdir=/etc,upperdir={etc}/upper,workdir={etc}/work /etc && exec "$@"'
    )
    return [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        mount,
        "kueue",
        *argv,
    ]
