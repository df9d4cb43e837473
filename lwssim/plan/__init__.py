"""`lwssim plan`: the smallest size of one dimension, by Monte Carlo: the fewest nodes of a pool, or the
smallest nominal quota of a Kueue ClusterQueue, that place, serve in time and stay up.

dimension.py says what is sized (PoolNodes, ClusterQueueQuota: the range, the variant, the words),
search.py finds the size (scan, exact early rejection), runs.py computes one seeded run (in worker
processes; dask_runs.py on Dask), stats.py the quantiles and intervals, report.py the CapacityPlan and its
reasons in words, variants.py the scenario with the pool's count or the queue's quota replaced.
"""

from __future__ import annotations

from lwssim.model.scenario import Scenario
from lwssim.plan.dimension import (
    ClusterQueueQuota,
    Dimension,
    PoolNodes,
    WarmNodes,
    cluster_queue_quota,
    pool_dimension,
)
from lwssim.plan.search import Progress, Search, search
from lwssim.plan.stats import Targets

__all__ = [
    "ClusterQueueQuota",
    "Dimension",
    "PoolNodes",
    "WarmNodes",
    "Progress",
    "Search",
    "Targets",
    "cluster_queue_quota",
    "plan",
    "pool_dimension",
    "search",
]


def plan(scenario: Scenario, dimension: Dimension | str, **options) -> dict:
    """Search and return the CapacityPlan document (a pool's name sizes its node count; options as for
    ``search``)."""
    from lwssim.plan.report import to_dict

    return to_dict(search(scenario, dimension, **options))
