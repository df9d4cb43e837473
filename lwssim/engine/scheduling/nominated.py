"""NodeResourcesFit on the nodes pods are nominated to, kept current instead of recounted per cycle.

``RunFilterPluginsWithNominatedPods`` (kubernetes v1.34 ``framework/runtime/framework.go``) filters a node
with the pods nominated there of at least the incoming pod's priority added (``addGENominatedPods``, the
incoming pod itself left out). For a pod without inter-pod terms only NodeResourcesFit can change by it,
and only on nominated nodes. While preemptions are under way, thousands of pods are retried against the
same few hundred nominated nodes: this keeps, per feasible set and priority, which nominated nodes the
nominated requests take a fitting node from and how many more nodes then lack each resource, updated one
node at a time as pods are bound, released or nominated.
"""

from __future__ import annotations

from lwssim.engine.nodetable import NodeTable
from lwssim.engine.scheduling.nominator import Needs, Nominator


class NominatedFit:
    """For one feasible set (static filters and requests) and one priority: the nominated nodes that pass
    the static filters and fit the pod without the requests of the pods nominated there with at least
    that priority but not with them (``blocked``), and per requested resource how many static-passing
    nodes lack it only with them (``extra``)."""

    def __init__(
        self, table: NodeTable, nominator: Nominator, static_ok: list[bool], needs: Needs, priority: int
    ) -> None:
        self.table, self.nominator, self.static_ok = table, nominator, static_ok
        self.needs, self.priority = needs, priority
        self._bits: dict[int, tuple[int, int]] = {}  # node -> (resources it lacks, … with the nominated)
        self.blocked: set[int] = set()
        self.extra = [0] * len(needs)
        for i in nominator.nodes():
            self.node_changed(i)

    def _lacking(self, i: int, held: list[int]) -> tuple[int, int]:
        """Bit k set where node ``i`` lacks ``needs[k]`` without, and with, ``held`` (per need)."""
        rows = self.table.free_rows
        short = short_held = 0
        for k, (col, need) in enumerate(self.needs):
            free = rows[col].item(i)
            if free < need:
                short |= 1 << k
            if free - held[k] < need:
                short_held |= 1 << k
        return short, short_held

    def _count(self, i: int, bits: tuple[int, int], sign: int) -> None:
        short, short_held = bits
        only_held = short_held & ~short
        for k in range(len(self.extra)):
            if only_held >> k & 1:
                self.extra[k] += sign
        if short_held and not short:
            if sign > 0:
                self.blocked.add(i)
            else:
                self.blocked.discard(i)

    def node_changed(self, i: int) -> None:
        """Node ``i``'s free resources, static filters or nominated pods changed."""
        old = self._bits.pop(i, None)
        if old is not None:
            self._count(i, old, -1)
        if not self.static_ok[i]:
            return
        held = self.nominator.requests_on(i, self.priority, self.needs)
        if held is None:
            return
        bits = self._bits[i] = self._lacking(i, held)
        self._count(i, bits, 1)

    def without(self, node: int, needs: Needs) -> tuple[list[int], int]:
        """``extra`` with one nominated pod's own requests (``needs`` on ``node``) left out, as
        ``addGENominatedPods`` leaves out the pod being scheduled, and ``node`` if it fits then though
        ``blocked`` holds it (else -1)."""
        old = self._bits.get(node)
        if old is None:  # not a static-passing node, or nothing of this priority nominated there
            return self.extra, -1
        own = dict(needs)
        held = self.nominator.requests_on(node, self.priority, self.needs) or [0] * len(self.needs)
        short, short_held = self._lacking(
            node, [h - own.get(col, 0) for h, (col, _) in zip(held, self.needs, strict=True)]
        )
        old_only, new_only = old[1] & ~old[0], short_held & ~short
        extra = [e + (new_only >> k & 1) - (old_only >> k & 1) for k, e in enumerate(self.extra)]
        freed = node if node in self.blocked and not short_held else -1
        return extra, freed
