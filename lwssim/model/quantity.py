"""Kubernetes quantities and Go durations, parsed once at the edge into plain numbers."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
GPU = "nvidia.com/gpu"


def _official_parser() -> Callable[[object], Decimal]:
    """The official Kubernetes client's ``parse_quantity``, loaded from its own file: importing it
    the usual way runs ``kubernetes/__init__``, which loads the whole API client (about half a
    second of every command's start) for one self-contained module."""
    loaded = sys.modules.get("kubernetes.utils.quantity")
    if loaded is None:
        package = importlib.util.find_spec("kubernetes")
        assert package is not None and package.submodule_search_locations, "kubernetes is a dependency"
        path = Path(next(iter(package.submodule_search_locations))) / "utils" / "quantity.py"
        spec = importlib.util.spec_from_file_location("lwssim._kubernetes_quantity", path)
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
    return loaded.parse_quantity


_k8s_parse_quantity = _official_parser()


class QuantityError(ValueError):
    """A value is not a Kubernetes quantity or not a Go duration."""


def parse_quantity(value: object) -> Decimal:
    """Parse a Kubernetes quantity (``8``, ``500m``, ``2Ti``) with the official client's parser."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    try:
        return _k8s_parse_quantity(value)  # type: ignore[arg-type]
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise QuantityError(f"{value!r} is not a quantity") from exc


def resource_amount(name: str, value: object) -> int:
    """Canonical integer amount of a resource: millicores for cpu, whole units (rounded up) otherwise.

    kube-scheduler compares cpu in millicores and every other resource as an integer value
    (``resource.Quantity.MilliValue`` / ``Value``, which round up).
    """
    q = parse_quantity(value)
    if q < 0:
        raise QuantityError(f"{value!r} is negative")
    if name == CPU:
        return int(math.ceil(q * 1000))
    return int(math.ceil(q))


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Parse a Go/Kubernetes duration (``90s``, ``1h30m``, ``500ms``) into seconds.

    Like Go's ``time.ParseDuration``: a sequence of decimal numbers with units; ``0`` alone is allowed.
    A bare number is refused because Kubernetes fields never take one.
    """
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} is not a duration (write it like 90s, 5m or 1h30m)")
    text = value.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match:
            raise QuantityError(f"{value!r} is not a duration (write it like 90s, 5m or 1h30m)")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise QuantityError(f"{value!r} is not a duration (write it like 90s, 5m or 1h30m)")
    return total


def format_duration(seconds: float | None) -> str:
    """Human form of a duration in seconds: ``4m12s``, ``1h02m``, ``—`` for none."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 and seconds != s else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
