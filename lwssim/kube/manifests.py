"""Manifest files given with ``-f`` to preflight and apply: raw documents plus the workloads they define.

The raw document is what gets applied; the typed workloads (the simulator's loader, so defaults and
validation match the LWS webhook) give names, replicas and sizes for checks and the observed Timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lwssim.errors import InputError
from lwssim.manifests.where import Where
from lwssim.manifests.workloads import read_document
from lwssim.manifests.yamlio import load_documents
from lwssim.model.lws import Workload
from lwssim.model.scenario import ControllerConfig


@dataclass
class Manifest:
    doc: dict
    where: Where
    workloads: list[Workload]
    error: InputError | None = None  # the loader refused it (preflight reports some of these as checks)

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name", ""))


def _flatten(doc: object, where: Where) -> list[tuple[dict, Where]]:
    obj = where.mapping(doc)
    if obj.get("kind") == "List":
        items_at = where.key("items")
        out: list[tuple[dict, Where]] = []
        for i, item in enumerate(items_at.seq(obj.get("items"))):
            out += _flatten(item, items_at.index(i))
        return out
    return [(obj, where)]


def load(
    paths: list[str],
    namespace: str | None,
    controller: ControllerConfig | None = None,
    tolerate: bool = False,
) -> list[Manifest]:
    """Read every document of every file; ``namespace`` (from -n or the context) fills missing ones.

    With ``tolerate`` a document the loader refuses is kept with its error instead of raising.
    """
    controller = controller or ControllerConfig()
    out: list[Manifest] = []
    for path in paths:
        docs = load_documents(Path(path), path)
        if not docs:
            raise InputError(path, "", "holds no documents")
        for d, doc in enumerate(docs):
            top = Where(path if len(docs) == 1 else f"{path} (document {d + 1})")
            for obj, where in _flatten(doc, top):
                meta = obj.get("metadata")
                if namespace and isinstance(meta, dict):
                    given = meta.get("namespace")
                    if given and given != namespace:
                        raise (
                            where.key("metadata")
                            .key("namespace")
                            .error(f'"{given}" differs from -n {namespace}')
                        )
                    meta["namespace"] = namespace
                try:
                    read = read_document(obj, where, controller, where.file)
                    workloads = [w for w in read if isinstance(w, Workload)]
                    out.append(Manifest(obj, where, workloads))
                except InputError as exc:
                    if not tolerate:
                        raise
                    out.append(Manifest(obj, where, [], exc))
    return out
