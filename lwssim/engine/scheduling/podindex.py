"""Assigned pods as arrays, for InterPodAffinity: which pods match a selector, and where they run.

kube-scheduler counts every pod in a NodeInfo, terminating ones included, until the pod object is
gone. Selectors are evaluated over all assigned pods at once; the anti-affinity terms of existing
pods are grouped by shape (topology key, namespaces, operators) and evaluated against the incoming
pod's labels in one pass per shape, so a thousand leaders cost a handful of NumPy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lwssim.engine.nodetable import LabelColumn
from lwssim.model.pod import LabelSelector, PodAffinityTerm, Requirement


class PodIndex:
    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self.node = np.full(capacity, -1, dtype=np.int32)
        self.ns = np.full(capacity, -1, dtype=np.int32)
        self.alive = np.zeros(capacity, dtype=bool)
        self.ns_col = LabelColumn(0)
        self.columns: dict[str, LabelColumn] = {}
        self.slot_labels: list[dict[str, str]] = []
        self.free: list[int] = []
        self.term_tables: dict[tuple, TermTable] = {}

    def _grow(self) -> None:
        cap = len(self.node) * 2
        self.node = np.resize(self.node, cap)
        self.ns = np.resize(self.ns, cap)
        alive = np.zeros(cap, dtype=bool)
        alive[: len(self.alive)] = self.alive
        self.alive = alive
        for col in self.columns.values():
            col.grow(cap)

    def add(
        self, node: int, namespace: str, labels: dict[str, str], anti_terms: tuple[PodAffinityTerm, ...]
    ) -> int:
        if self.free:
            slot = self.free.pop()
        else:
            if self.size == len(self.node):
                self._grow()
            slot = self.size
            self.size += 1
            self.slot_labels.append({})
        self.node[slot] = node
        self.ns[slot] = self.ns_col.code(namespace)
        self.alive[slot] = True
        self.slot_labels[slot] = labels
        for key, col in self.columns.items():
            col.codes[slot] = col.code(labels[key]) if key in labels else -1
        for term in anti_terms:
            self._table_for(term, namespace).add(slot, term, self)
        return slot

    def remove(self, slot: int) -> None:
        self.alive[slot] = False
        self.node[slot] = -1
        for table in self.term_tables.values():
            table.remove(slot)
        self.free.append(slot)

    def suspend(self, slot: int) -> list[tuple[TermTable, np.ndarray]]:
        """Take a live pod out of every match for a while (preemption's dry run removes a victim from its
        node's copy); returns what ``resume`` needs to put it back exactly."""
        self.alive[slot] = False
        rows = []
        for table in self.term_tables.values():
            hit = np.flatnonzero((table.slots[: table.count] == slot) & table.live[: table.count])
            if len(hit):
                table.live[hit] = False
                rows.append((table, hit))
        return rows

    def resume(self, slot: int, rows: list[tuple[TermTable, np.ndarray]]) -> None:
        self.alive[slot] = True
        for table, hit in rows:
            table.live[hit] = True

    def column(self, key: str) -> LabelColumn:
        """The codes of label ``key`` over all slots, built on first use."""
        col = self.columns.get(key)
        if col is None:
            col = self.columns[key] = LabelColumn(len(self.node))
            for slot in range(self.size):
                v = self.slot_labels[slot].get(key)
                if v is not None:
                    col.codes[slot] = col.code(v)
        return col

    def matching(self, selector: LabelSelector, namespaces: tuple[str, ...]) -> np.ndarray:
        """Slots of live pods in ``namespaces`` whose labels match ``selector``."""
        n = self.size
        mask = self.alive[:n].copy()
        ns_codes = [self.ns_col.lookup(ns) for ns in namespaces]
        mask &= np.isin(self.ns[:n], ns_codes)
        for req in selector.requirements():
            mask &= self.column(req.key).matches(req, n)
        return np.flatnonzero(mask)

    def _table_for(self, term: PodAffinityTerm, namespace: str) -> TermTable:
        namespaces = term.namespaces or (namespace,)
        shape = (
            term.topology_key,
            namespaces,
            tuple((r.key, r.operator, len(r.values)) for r in term.selector.requirements()),
        )
        table = self.term_tables.get(shape)
        if table is None:
            table = self.term_tables[shape] = TermTable(term.topology_key, namespaces, shape[2])
        return table

    def existing_anti_affinity_slots(
        self, labels: dict[str, str], namespace: str
    ) -> list[tuple[str, np.ndarray]]:
        """(topology key, slots) of existing pods whose required anti-affinity matches an incoming pod."""
        out = []
        for table in self.term_tables.values():
            if namespace not in table.namespaces or table.count == 0:
                continue
            slots = table.matching_slots(labels)
            if len(slots):
                out.append((table.topology_key, slots))
        return out


@dataclass
class TermTable:
    """Anti-affinity terms of one shape: per row, the owning pod's slot and the term's values."""

    topology_key: str
    namespaces: tuple[str, ...]
    shape: tuple[tuple[str, str, int], ...]
    count: int = 0
    slots: np.ndarray = field(default_factory=lambda: np.zeros(64, dtype=np.int32))
    values: list[np.ndarray] = field(default_factory=list)  # per requirement: [rows, nvalues] strings
    live: np.ndarray = field(default_factory=lambda: np.zeros(64, dtype=bool))

    def __post_init__(self) -> None:
        self.values = [np.empty((64, nv), dtype=object) for _, _, nv in self.shape]

    def add(self, slot: int, term: PodAffinityTerm, index: PodIndex) -> None:
        if self.count == len(self.slots):
            cap = 2 * len(self.slots)
            self.slots = np.resize(self.slots, cap)
            live = np.zeros(cap, dtype=bool)
            live[: self.count] = self.live[: self.count]
            self.live = live
            self.values = [np.resize(v, (cap, v.shape[1])) for v in self.values]
        row = self.count
        self.count += 1
        self.slots[row] = slot
        self.live[row] = True
        for j, req in enumerate(term.selector.requirements()):
            self.values[j][row, :] = req.values

    def remove(self, slot: int) -> None:
        rows = np.flatnonzero(self.slots[: self.count] == slot)
        self.live[rows] = False

    def matching_slots(self, labels: dict[str, str]) -> np.ndarray:
        n = self.count
        mask = self.live[:n].copy()
        for j, (key, op, _nv) in enumerate(self.shape):
            value = labels.get(key)
            if op == "Exists":
                if value is None:
                    return np.zeros(0, dtype=np.int32)
            elif op == "DoesNotExist":
                if value is not None:
                    return np.zeros(0, dtype=np.int32)
            elif op in ("In", "NotIn"):
                hit = (self.values[j][:n] == value).any(axis=1) if value is not None else np.zeros(n, bool)
                mask &= hit if op == "In" else ~hit
            else:
                vals = self.values[j][:n, 0]
                mask &= np.array([Requirement(key, op, (v,)).matches(labels) for v in vals], dtype=bool)
        return self.slots[:n][mask]
