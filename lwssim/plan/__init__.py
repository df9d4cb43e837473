"""`lwssim plan`: the fewest nodes of a pool that place, serve in time and stay up, by Monte Carlo.

search.py finds the count (scan, exact early rejection), runs.py computes one seeded run (in worker
processes), stats.py the quantiles and intervals, report.py the CapacityPlan and its reasons in words,
variants.py the scenario with the pool's count replaced.
"""

from __future__ import annotations

from lwssim.model.scenario import Scenario
from lwssim.plan.search import Progress, Search, search
from lwssim.plan.stats import Targets

__all__ = ["Progress", "Search", "Targets", "plan", "search"]


def plan(scenario: Scenario, pool: str, **options) -> dict:
    """Search and return the CapacityPlan document (options as for ``search``)."""
    from lwssim.plan.report import to_dict

    return to_dict(search(scenario, pool, **options))
