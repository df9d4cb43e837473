"""Failure domains as a graph: a domain (a rack behind one leaf switch, a zone) contains nodes and,
through its nodes, smaller domains. Losing a domain loses every node reachable from it.

Built from node labels (pool ``topology`` levels or NodeList labels): one vertex per node and one per
``key=value`` domain; an edge domain → node for every labelled node, and domain → domain when every
node of the second lies in the first (a rack inside a zone). The graph is built once per run.
"""

from __future__ import annotations

from lwssim.engine.nodetable import NodeTable

Domain = tuple[str, str]  # (label key, value)


class FailureDomains:
    def __init__(self, nodes: NodeTable, keys: list[str]) -> None:
        # only scenarios with domain failures need networkx: keep it off every start
        import networkx as nx  # type: ignore[import-untyped]

        self._nx = nx
        self.graph = nx.DiGraph()
        self._nodes: dict[Domain, list[int]] = {}
        members: dict[Domain, set[int]] = {}
        for i, name in enumerate(nodes.names):
            self.graph.add_node(("node", name), index=i)
            labels = nodes.node_labels[i]
            for key in keys:
                value = labels.get(key)
                if value is not None:
                    members.setdefault((key, value), set()).add(i)
        for domain in sorted(members):
            self.graph.add_node(("domain", *domain))
            for i in sorted(members[domain]):
                self.graph.add_edge(("domain", *domain), ("node", nodes.names[i]))
        ordered = sorted(members, key=lambda d: (-len(members[d]), d))
        for a_pos, outer in enumerate(ordered):
            for inner in ordered[a_pos + 1 :]:
                if inner[0] != outer[0] and members[inner] <= members[outer]:
                    self.graph.add_edge(("domain", *outer), ("domain", *inner))
        self.keys = keys

    def domains(self, key: str) -> list[Domain]:
        """Every domain of ``key``, in a stable order."""
        return sorted((v[1], v[2]) for v in self.graph.nodes if v[0] == "domain" and v[1] == key)

    def nodes_of(self, domain: Domain) -> list[int]:
        """Node indices lost with ``domain`` (every node reachable from it), in table order."""
        cached = self._nodes.get(domain)
        if cached is None:
            vertex = ("domain", *domain)
            if vertex not in self.graph:
                cached = []
            else:
                reach = self._nx.descendants(self.graph, vertex)
                cached = sorted(self.graph.nodes[v]["index"] for v in reach if v[0] == "node")
            self._nodes[domain] = cached
        return cached

    def contains(self, outer: Domain, inner: Domain) -> bool:
        """True when ``inner`` lies wholly inside ``outer`` (e.g. a rack inside its zone)."""
        return self.graph.has_edge(("domain", *outer), ("domain", *inner))
