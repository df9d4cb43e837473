"""All nodes as NumPy arrays, so each scheduler plugin is one vectorised pass over the cluster.

Rows are nodes in the scheduler's node order: kube-scheduler's NodeTree lists nodes zone by zone,
round-robin across zones (``pkg/scheduler/backend/cache/node_tree.go``), so consecutive candidates
come from different zones.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np

from lwssim.model.cluster import Node
from lwssim.model.pod import Requirement, Taint
from lwssim.model.quantity import CPU, MEMORY, PODS

ZONE_LABEL = "topology.kubernetes.io/zone"
DEFAULT_MAX_PODS = 110  # kubelet --max-pods default, for nodes given without a pods capacity


class LabelColumn:
    """One label key over all nodes (or pods): int codes, -1 where the label is absent."""

    def __init__(self, size: int) -> None:
        self.codes = np.full(size, -1, dtype=np.int32)
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}

    def code(self, value: str) -> int:
        """Code of ``value``, interning it."""
        c = self.index.get(value)
        if c is None:
            c = self.index[value] = len(self.vocab)
            self.vocab.append(value)
        return c

    def lookup(self, value: str) -> int:
        """Code of ``value`` without interning: -2 (matches nothing) when unknown."""
        return self.index.get(value, -2)

    def matches(self, req: Requirement, n: int | None = None) -> np.ndarray:
        """Rows (the first ``n``) whose value satisfies ``req``; an absent label fails all but
        NotIn and DoesNotExist, as in apimachinery's selector."""
        codes = self.codes if n is None else self.codes[:n]
        present = codes >= 0
        if req.operator == "Exists":
            return present
        if req.operator == "DoesNotExist":
            return ~present
        if req.operator in ("In", "NotIn"):
            hit = np.isin(codes, [self.lookup(v) for v in req.values])
            return hit if req.operator == "In" else ~hit
        ok = np.array([req.matches({req.key: v}) for v in self.vocab] + [False], dtype=bool)
        return ok[np.where(present, codes, len(self.vocab))]

    def grow(self, size: int) -> None:
        if size > len(self.codes):
            extra = np.full(size - len(self.codes), -1, dtype=np.int32)
            self.codes = np.concatenate([self.codes, extra])


def node_tree_order(nodes: list[Node]) -> list[Node]:
    """Interleave nodes across zones as NodeTree.list() does: one node of each zone in turn."""
    zones: dict[str, list[Node]] = {}
    for n in nodes:
        zones.setdefault(dict(n.labels).get(ZONE_LABEL, ""), []).append(n)
    if len(zones) <= 1:
        return list(nodes)
    order: list[Node] = []
    lists = list(zones.values())
    for i in range(max(len(z) for z in lists)):
        order.extend(z[i] for z in lists if i < len(z))
    return order


class NodeTable:
    def __init__(
        self,
        nodes: list[Node],
        extra_resources: AbstractSet[str] = frozenset(),
        spare: list[Node] | None = None,
    ) -> None:
        """``spare``: rows for nodes an autoscaler may create later, absent until ``add_node``; they
        follow the present nodes (a new node joins the end of kube-scheduler's node list)."""
        spare = spare or []
        ordered = node_tree_order(nodes) + spare
        self.names = [n.name for n in ordered]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.pool = [n.pool for n in ordered]
        n = len(ordered)
        names = {CPU, MEMORY, PODS} | set(extra_resources)
        for node in ordered:
            names.update(r for r, _ in node.allocatable)
        self.resources = sorted(names)
        self.res_index = {r: i for i, r in enumerate(self.resources)}
        self.alloc = np.zeros((n, len(self.resources)), dtype=np.int64)
        for i, node in enumerate(ordered):
            amounts = dict(node.allocatable)
            amounts.setdefault(PODS, DEFAULT_MAX_PODS)
            for r, v in amounts.items():
                self.alloc[i, self.res_index[r]] = v
        # Resource-major copies: one contiguous row per resource, so a filter reads only what a pod asks.
        self.alloc_by_res = np.ascontiguousarray(self.alloc.T)
        self.free_by_res = self.alloc_by_res.copy()
        # NonZeroRequested for scoring: cpu 100m / memory 200MB per container without requests
        # (pkg/scheduler/util DefaultMilliCPURequest, DefaultMemoryRequest).
        self.used_nz_cpu = np.zeros(n, dtype=np.int64)
        self.used_nz_mem = np.zeros(n, dtype=np.int64)
        self.cpu_col, self.mem_col = self.res_index[CPU], self.res_index[MEMORY]
        # Views of the cpu and memory rows (they change with the tables): per-node reads in scoring.
        self.alloc_cpu, self.alloc_mem = self.alloc_by_res[self.cpu_col], self.alloc_by_res[self.mem_col]
        self.free_cpu, self.free_mem = self.free_by_res[self.cpu_col], self.free_by_res[self.mem_col]
        self.free_rows = list(self.free_by_res)  # one view per resource: cheaper single-node updates
        self.labels: dict[str, LabelColumn] = {}
        self.node_labels = [dict(node.labels) for node in ordered]
        for i, labels in enumerate(self.node_labels):
            for k, val in labels.items():
                col = self.labels.get(k)
                if col is None:
                    col = self.labels[k] = LabelColumn(n)
                col.codes[i] = col.code(val)
        self.unschedulable = np.array([node.unschedulable for node in ordered], dtype=bool)
        self.base_taints = [tuple(node.taints) for node in ordered]
        self.extra_taints: list[tuple[Taint, ...]] = [() for _ in ordered]
        self._taint_sigs: dict[tuple[Taint, ...], int] = {}
        self.taint_sig_list: list[tuple[Taint, ...]] = []
        self.taint_sig = np.zeros(n, dtype=np.int32)
        for i in range(n):
            self._set_taint_sig(i)
        self.images: dict[str, np.ndarray] = {}
        self.image_nodes: dict[str, int] = {}  # how many nodes hold each image (ImageLocality's spread)
        self.image_sizes: dict[str, int] = {}
        for i, node in enumerate(ordered):
            for image, size in node.images:
                self.add_image(i, image, size)
        self.generation = 0  # bumped when labels, taints or schedulability change (cache key)
        # Rows of nodes that exist: spare rows are absent until an autoscaler's node registers there.
        self.present = np.ones(n, dtype=bool)
        self.present[n - len(spare) :] = False
        self.present_count = n - len(spare)

    # -- nodes an autoscaler adds and removes
    def add_node(self, i: int, name: str, allocatable: dict[str, int]) -> None:
        """A new node registers in spare row ``i``, named ``name``, with ``allocatable``."""
        assert not self.present[i]
        if self.names[i] != name:
            if self.index.get(self.names[i]) == i:
                del self.index[self.names[i]]
            self.names[i] = name
            self.index[name] = i
            col = self.labels.get("kubernetes.io/hostname")
            if col is not None:
                col.codes[i] = col.code(name)
                self.node_labels[i]["kubernetes.io/hostname"] = name
        for r, v in allocatable.items():
            self.set_allocatable(i, r, v)
        self.present[i] = True
        self.present_count += 1
        self.generation += 1

    def remove_node(self, i: int) -> None:
        """The node of row ``i`` is deleted; its row may take a later node."""
        assert self.present[i]
        self.present[i] = False
        self.present_count -= 1
        self.clear_images(i)
        self.extra_taints[i] = ()
        self._set_taint_sig(i)
        self.generation += 1

    def set_allocatable(self, i: int, resource: str, value: int) -> None:
        """Node ``i``'s allocatable ``resource`` is ``value`` (what it has free moves by as much)."""
        col = self.res_index[resource]
        delta = value - int(self.alloc_by_res[col, i])
        if delta:
            self.alloc[i, col] = value
            self.alloc_by_res[col, i] = value
            self.free_by_res[col, i] += delta

    def free_copy(self) -> dict[int, np.ndarray]:
        """Each resource column's free amounts per row, copied: a scratch pad for a simulated placement
        (the autoscalers' binpacking) that leaves the table as it is."""
        return {col: self.free_by_res[col].copy() for col in range(len(self.resources))}

    def __len__(self) -> int:
        return len(self.names)

    # -- taints
    def taints(self, i: int) -> tuple[Taint, ...]:
        return self.base_taints[i] + self.extra_taints[i]

    def _set_taint_sig(self, i: int) -> None:
        sig = self.taints(i)
        code = self._taint_sigs.get(sig)
        if code is None:
            code = self._taint_sigs[sig] = len(self.taint_sig_list)
            self.taint_sig_list.append(sig)
        self.taint_sig[i] = code

    def set_extra_taints(self, i: int, taints: tuple[Taint, ...]) -> None:
        """Taints the node lifecycle controller adds (not-ready, unreachable)."""
        if self.extra_taints[i] != taints:
            self.extra_taints[i] = taints
            self._set_taint_sig(i)
            self.generation += 1

    # -- resources
    def request_vector(self, requests: dict[str, int]) -> tuple[np.ndarray, list[str]]:
        """Requests as a row over this table's resources, plus resources no node has at all."""
        vec = np.zeros(len(self.resources), dtype=np.int64)
        unknown = []
        for r, v in requests.items():
            if r in self.res_index:
                vec[self.res_index[r]] = v
            elif v > 0:
                unknown.append(r)
        vec[self.res_index[PODS]] = 1
        return vec, sorted(unknown)

    def reserve(
        self, i: int, needs: tuple[tuple[int, int], ...], nonzero: tuple[int, int], sign: int = 1
    ) -> None:
        """Hold (sign 1) or free (sign -1) a pod's requests on node ``i``: ``needs`` are its
        (resource column, amount) pairs with amount > 0, ``nonzero`` its scoring cpu and memory."""
        rows = self.free_rows
        for col, amount in needs:
            rows[col][i] -= sign * amount
        if nonzero[0]:
            self.used_nz_cpu[i] += sign * nonzero[0]
        if nonzero[1]:
            self.used_nz_mem[i] += sign * nonzero[1]

    # -- images
    def add_image(self, i: int, image: str, size: int | None = None) -> None:
        arr = self.images.get(image)
        if arr is None:
            arr = self.images[image] = np.zeros(len(self.names), dtype=bool)
            self.image_nodes[image] = 0
        if not arr[i]:
            arr[i] = True
            self.image_nodes[image] += 1
        if size:
            self.image_sizes[image] = size

    def has_image(self, i: int, image: str) -> bool:
        arr = self.images.get(image)
        return bool(arr is not None and arr[i])

    def clear_images(self, i: int) -> None:
        for image, arr in self.images.items():
            if arr[i]:
                arr[i] = False
                self.image_nodes[image] -= 1

    # -- labels
    def label_codes(self, key: str) -> np.ndarray:
        col = self.labels.get(key)
        return col.codes if col is not None else np.full(len(self.names), -1, dtype=np.int32)

    def label_column(self, key: str) -> LabelColumn | None:
        return self.labels.get(key)
