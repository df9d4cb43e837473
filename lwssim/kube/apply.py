"""``lwssim apply``: server-side dry-run, then server-side apply with field manager ``lwssim``.

Never changes what it did not create: an object that already exists is only applied when it carries
``app.kubernetes.io/managed-by: lwssim`` or ``lwssim`` already manages fields of it; otherwise apply
refuses before touching anything. ``--cleanup`` deletes only objects this run created (they did not exist
before it), with foreground propagation so their pods go with them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lwssim.kube.client import FIELD_MANAGER, MANAGED_BY, Connection, api_message


class ApplyRefused(Exception):
    """Applying would change something lwssim does not own, or the server rejected the objects."""


@dataclass
class Planned:
    """One object to apply: its document (labelled as ours), whether it exists, and who owns it."""

    doc: dict
    namespace: str
    exists: bool = False
    foreign_managers: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.doc['kind']}/{self.doc['metadata']['name']}"

    @property
    def shown(self) -> str:
        """``namespace/Kind/name``, or ``Kind/name`` for a cluster-scoped object."""
        return f"{self.namespace}/{self.ref}" if self.namespace else self.ref


def labelled(doc: dict, namespace: str) -> dict:
    """A copy with the namespace set and the ownership label added (nothing else of the user's changes)."""
    out = copy.deepcopy(doc)
    meta = out.setdefault("metadata", {})
    meta.setdefault("namespace", namespace)
    meta.setdefault("labels", {})[MANAGED_BY] = FIELD_MANAGER
    return out


def owned_by_us(live: dict) -> bool:
    """The object carries our label or lwssim manages some of its fields."""
    meta = live.get("metadata") or {}
    if (meta.get("labels") or {}).get(MANAGED_BY) == FIELD_MANAGER:
        return True
    return any(m.get("manager") == FIELD_MANAGER for m in meta.get("managedFields") or [])


def other_managers(live: dict) -> list[str]:
    meta = live.get("metadata") or {}
    return sorted({m.get("manager", "") for m in meta.get("managedFields") or []} - {FIELD_MANAGER, ""})


def _resource(conn: Connection, doc: dict) -> Any:
    from kubernetes.dynamic import DynamicClient

    client = getattr(conn, "_dynamic", None)
    if client is None:
        client = DynamicClient(conn.api)
        conn._dynamic = client  # type: ignore[attr-defined]
    return client.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])


def plan(conn: Connection, docs: list[dict], namespace: str) -> list[Planned]:
    """Look up each object; refuse (ApplyRefused) when one exists and is not ours."""
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

    out: list[Planned] = []
    for raw in docs:
        doc = labelled(raw, namespace)
        try:
            res = _resource(conn, doc)
        except ResourceNotFoundError:
            raise ApplyRefused(
                f"{doc['kind']} ({doc['apiVersion']}) is not served by this cluster: is its CRD installed? "
                "(run `lwssim preflight`)"
            ) from None
        if not res.namespaced:
            # Cluster-scoped kinds (PriorityClass; Kueue's ResourceFlavor, ClusterQueue, Topology,
            # WorkloadPriorityClass, Cohort) carry no namespace.
            doc["metadata"].pop("namespace", None)
        ns = doc["metadata"].get("namespace", "")
        p = Planned(doc, ns)
        try:
            live = res.get(name=doc["metadata"]["name"], namespace=ns or None).to_dict()
        except NotFoundError:
            live = None
        except Exception as exc:  # noqa: BLE001
            raise ApplyRefused(f"{p.ref}: cannot read it: {api_message(exc)}") from None
        if live is not None:
            p.exists = True
            p.foreign_managers = other_managers(live)
            if not owned_by_us(live):
                raise ApplyRefused(
                    f"{ns}/{p.ref} already exists and was not created by lwssim (managers: "
                    f"{', '.join(p.foreign_managers) or 'unknown'}); lwssim does not change objects it does "
                    "not own: delete or rename it, or pick another namespace with -n"
                )
        out.append(p)
    return out


def server_side_apply(conn: Connection, planned: list[Planned], dry_run: bool) -> list[dict]:
    """Apply every object (``dry_run``: the server validates and admits, nothing is stored)."""
    results = []
    for p in planned:
        kw: dict[str, Any] = {"field_manager": FIELD_MANAGER}
        if dry_run:
            kw["dry_run"] = "All"
        try:
            res = _resource(conn, p.doc).server_side_apply(body=p.doc, namespace=p.namespace or None, **kw)
        except Exception as exc:  # noqa: BLE001 - the server's own message is what the user needs
            stage = "server-side dry-run" if dry_run else "server-side apply"
            raise ApplyRefused(f"{p.shown}: {stage} rejected: {api_message(exc)}") from None
        results.append(res.to_dict())
    return results


def cleanup(conn: Connection, planned: list[Planned]) -> list[str]:
    """Delete (foreground) what this run created; objects that existed before are left alone."""
    from kubernetes.dynamic.exceptions import NotFoundError

    done = []
    for p in planned:
        if p.exists:
            continue
        try:
            _resource(conn, p.doc).delete(
                name=p.doc["metadata"]["name"],
                namespace=p.namespace or None,
                body={"propagationPolicy": "Foreground"},
            )
            done.append(p.shown)
        except NotFoundError:
            continue
    return done


def creation_time(results: list[dict]) -> str | None:
    """Earliest creationTimestamp among applied objects (for messages)."""
    stamps = [str((r.get("metadata") or {}).get("creationTimestamp") or "") for r in results]
    stamps = [s for s in stamps if s]
    return min(stamps) if stamps else None
