"""apimachinery's ``intstr``: an int or a percentage of a total (rollout maxUnavailable and maxSurge)."""

from __future__ import annotations

import math


def scaled(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (k8s.io/apimachinery/pkg/util/intstr)."""
    if isinstance(value, int):
        return value
    pct = int(value.rstrip("%")) * total / 100
    return math.ceil(pct) if round_up else math.floor(pct)
