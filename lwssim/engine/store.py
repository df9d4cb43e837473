"""The object store: API objects keyed by kind and namespace/name, with admission and watches.

Controllers never reach into each other's state; they read and write here, and react to watch
events, like controller-runtime informers (docs/design.md).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import Any

from lwssim.engine.objects import Obj

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

Handler = Callable[[str, Any], None]
Admission = Callable[[Any], None]


def no_latency() -> float:
    """An API round trip that takes no time: the controllers' default when no latency model is given."""
    return 0.0


class Store:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._objects: dict[str, dict[str, Obj]] = {}
        self._watchers: dict[str, list[Handler]] = {}
        self._admission: dict[str, list[Admission]] = {}
        self._next_uid = 1
        self._version = 0  # resourceVersion counter
        # owner uid -> dependents (insertion ordered), the garbage collector's graph
        self._dependents: dict[int, dict[int, Obj]] = {}

    # -- reads
    def get(self, kind: str, key: str) -> Obj | None:
        return self._objects.get(kind, {}).get(key)

    def list(self, kind: str) -> Iterator[Obj]:
        return iter(list(self._objects.get(kind, {}).values()))

    def dependents(self, owner: Obj) -> builtins.list[Obj]:
        deps = self._dependents.get(owner.uid)
        return list(deps.values()) if deps else []

    # -- hooks
    def watch(self, kind: str, handler: Handler) -> None:
        self._watchers.setdefault(kind, []).append(handler)

    def admit(self, kind: str, mutate: Admission) -> None:
        """Register a mutating admission hook (e.g. the LWS pod webhook) run on every create."""
        self._admission.setdefault(kind, []).append(mutate)

    def _notify(self, event: str, obj: Obj) -> None:
        for handler in self._watchers.get(obj.kind, ()):
            handler(event, obj)

    # -- writes
    def create(self, obj: Obj) -> bool:
        """Create ``obj``; False when the name is taken (AlreadyExists), as a controller would see it."""
        objs = self._objects.setdefault(obj.kind, {})
        if obj.key in objs:
            return False
        for mutate in self._admission.get(obj.kind, ()):
            mutate(obj)
        obj.uid = self._next_uid
        self._next_uid += 1
        obj.created_at = self._now()
        self._version += 1
        obj.resource_version = self._version
        objs[obj.key] = obj
        obj.stored = True
        if obj.owner is not None:
            self._dependents.setdefault(obj.owner.uid, {})[obj.uid] = obj
        self._notify(ADDED, obj)
        return True

    def update(self, obj: Obj) -> None:
        """Announce that ``obj`` changed (its fields were set in place)."""
        if obj.stored:
            self._version += 1
            obj.resource_version = self._version
            self._notify(MODIFIED, obj)

    def remove(self, obj: Obj) -> None:
        """The object is gone from the API (finalizers cleared, grace period over)."""
        if not obj.stored:
            return
        del self._objects[obj.kind][obj.key]
        obj.stored = False
        if obj.owner is not None:
            deps = self._dependents.get(obj.owner.uid)
            if deps is not None:
                deps.pop(obj.uid, None)
        self._notify(DELETED, obj)
