"""Connecting to a live cluster the way kubectl does: kubeconfig file, context, default namespace.

Credentials are only ever handled by ``kubernetes.config.load_kube_config``; nothing here reads, prints or
records tokens, certificates or exec-plugin output. Error messages are built from the API status message
only (``ApiException.__str__`` would include HTTP headers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lwssim.errors import InputError

LWS_GROUP = "leaderworkerset.x-k8s.io"
LWS_VERSION = "v1"
LWS_PLURAL = "leaderworkersets"
LWS_CRD = f"{LWS_PLURAL}.{LWS_GROUP}"
KSERVE_GROUP = "serving.kserve.io"
LLMISVC_PLURAL = "llminferenceservices"
FIELD_MANAGER = "lwssim"
MANAGED_BY = "app.kubernetes.io/managed-by"


class ClusterError(InputError):
    """The cluster cannot be used (no kubeconfig, unknown context, API unreachable): exit 2."""


@dataclass
class Connection:
    """An ApiClient plus what the user should see before anything changes: context, server, namespace."""

    api: Any
    context: str
    server: str
    namespace: str


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Load credentials like kubectl (``$KUBECONFIG`` or ``~/.kube/config`` unless ``kubeconfig``)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    shown = kubeconfig or "kubeconfig"
    cfg = client.Configuration()
    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        raise ClusterError(shown, "--context" if context else "", f"cannot load kubeconfig: {exc}") from None
    chosen = next((c for c in contexts or [] if c.get("name") == context), active) if context else active
    chosen = chosen or {}
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return Connection(client.ApiClient(cfg), str(chosen.get("name", "")), str(cfg.host), namespace)


def api_message(exc: Exception) -> str:
    """A short, credential-free description of an API failure."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    if status is not None:
        reason = getattr(exc, "reason", "") or ""
        try:
            msg = json.loads(body).get("message", "") if body else ""
        except (ValueError, AttributeError):
            msg = ""
        return f"HTTP {status} {reason}: {msg}".rstrip(": ") if msg else f"HTTP {status} {reason}".strip()
    return f"{type(exc).__name__}: {exc}".split("\n")[0][:300]


def server_version(conn: Connection) -> tuple[str, tuple[int, int]]:
    """``gitVersion`` and (major, minor); raises ClusterError when the API does not answer."""
    from kubernetes import client

    try:
        info = client.VersionApi(conn.api).get_code(_request_timeout=10)
    except Exception as exc:  # noqa: BLE001 - any transport failure means: unreachable
        raise ClusterError(conn.server, "", f"API server unreachable: {api_message(exc)}") from None
    minor = "".join(ch for ch in str(info.minor) if ch.isdigit()) or "0"
    return str(info.git_version), (int(info.major), int(minor))


def to_dict(api: Any, obj: Any) -> dict:
    """A typed client object as the camelCase dict ``kubectl get -o json`` prints."""
    return api.sanitize_for_serialization(obj)
