"""The most lwssim accepts, so that any input runs in bounded time and memory (README "Limits").

Each limit is refused at load time, before anything is allocated for it, with exit 2 and the limit named.
They sit well above real fleets and were measured on a 2-core CI machine:

- 20,000 nodes: the largest single clusters run today are in the low tens of thousands of GPU nodes; a
  20,000-node cluster simulates in about 13 s (most of it the headroom explanation), and a candidate count
  of ``plan`` may not go beyond it either.
- 200,000 pods (every LWS at its most replicas × size over the run, plus snapshot pods): 160,000 pods on
  20,000 nodes simulate in about 30 s and 330 MB.
- a group of 5,000 pods: the widest published multi-node serving groups are a few hundred pods; one
  5,000-pod group simulates in about 1.4 s.
- 2,000 groups per LeaderWorkerSet (replicas at their most over the run): the LWS controller looks at
  every group of its LWS on each reconcile, as the real one does, so a rolling update or a scale-up
  costs groups² — about 5 s for 2,000 groups, over 20 s for 6,000. 2,000 groups of 2 to 8 nodes are
  4,000 to 16,000 nodes in one deployment.
- 100,000 random faults expected over the horizon (node, domain and container failure rates × what they
  hit × days): a year of Llama 3 failure rates on 20,000 nodes is about 28,000 node failures; a fault
  costs about 0.7 ms of simulation with 8 groups (20,000 faults in 14 s), 1.3 ms with 2,000.
- a horizon of one year (8,760 hours, the span of the bundled fleet-year scenario): what loops runs as
  long as the horizon lets it, and a group recreated every 10 minutes for a year (52,000 recreations)
  simulates in about 23 s and 330 MB.
- a resource amount of 1E (10^18 of its unit: bytes, millicores, devices): sums of requests on a node
  stay within 64-bit integers, where NumPy would wrap around silently; a node's memory is terabytes.
- one input file: 64 MiB, 3,000,000 YAML values counting what aliases expand to, nesting 100 deep. A
  64 MiB NodeList (5,300 nodes with 50 cached images each, about 12 KB a node; 1.5 KB without images)
  loads in about 40 s and 1.4 GB; it holds about 2.5 million values. Aliases may not make a document
  bigger than the biggest file accepted ("billion laughs"), and Kubernetes objects nest about 20 deep,
  well inside 100 (libyaml stops at 1,000; Python's stack ends near 500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # where.py reads MAX_QUANTITY from here
    from lwssim.manifests.where import Where

MAX_NODES = 20_000
MAX_PODS = 200_000
MAX_GROUP_SIZE = 5_000
MAX_GROUPS = 2_000
MAX_RANDOM_FAULTS = 100_000
MAX_HORIZON_HOURS = 8_760
MAX_QUANTITY = 10**18
MAX_FILE_BYTES = 64 * 2**20
MAX_YAML_NODES = 3_000_000
MAX_YAML_DEPTH = 100


def check_at_most(where: Where, what: str, value: int, limit: int, unit: str) -> None:
    """Refuse ``value`` above ``limit``, naming the limit (one wording for every limit)."""
    if value > limit:
        raise where.error(f"{what} is {value:,} {unit}, beyond lwssim's limit of {limit:,} {unit}")
