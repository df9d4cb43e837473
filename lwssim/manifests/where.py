"""Field locations for error messages, and typed reads of untyped YAML that fail with the field's path.

Every reader in this package takes a :class:`Where` (file + field path) so a bad value anywhere becomes
``InputError(file, "spec.x[0].y", message)`` (docs/contract.md "Conventions"), never a traceback.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass
from typing import Any

from lwssim.errors import InputError, UnsupportedError, clip, warn
from lwssim.manifests.limits import MAX_QUANTITY
from lwssim.model.quantity import QuantityError, parse_duration, resource_amount
from lwssim.model.timing import Distribution

MAX_INT32 = 2**31 - 1


def type_name(value: object) -> str:
    """YAML-ish name of a value's type, for 'expected X, got Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _short_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxstring, r.maxother, r.maxlong = 2, 4, 4, 30, 30, 30
    return r


_SHORT = _short_repr()


def show(value: object) -> str:
    """A value as the user wrote it, cut short: strings quoted, the rest as YAML would print them.

    Mappings and lists go through reprlib, which stops after a few items and levels, so a value that an
    alias expands to millions of nodes costs no more to show than a small one.
    """
    if isinstance(value, str):
        return json.dumps(clip(value), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return clip(_SHORT.repr(value))


@dataclass(frozen=True)
class Where:
    """A position in an input file: the file as the user named it and a dotted field path."""

    file: str
    path: str = ""

    def key(self, name: str) -> Where:
        name = clip(name)
        return Where(self.file, f"{self.path}.{name}" if self.path else name)

    def index(self, i: int) -> Where:
        return Where(self.file, f"{self.path}[{i}]")

    def error(self, message: str) -> InputError:
        return InputError(self.file, self.path, message)

    def unsupported(self, message: str) -> UnsupportedError:
        return UnsupportedError(self.file, self.path, message)

    def warn(self, message: str) -> None:
        """Input that loads but is likely a mistake (errors.InputWarning)."""
        warn(self.file, self.path, message)

    # -- typed reads of a mapping's field; ``None`` / absent gives the default ------------------------

    def mapping(self, value: Any) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"expected a mapping, got {type_name(value)}")
        return value

    def seq(self, value: Any) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(f"expected a list, got {type_name(value)}")
        return value

    def string(self, value: Any, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {type_name(value)}")
        return value

    def integer(self, value: Any, default: int | None = None, minimum: int | None = None) -> int:
        """An int32-style integer (Kubernetes' int32 fields): bools and floats with fractions refused."""
        if value is None and default is not None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected an integer, got {type_name(value)} {show(value)}")
        if minimum is not None and value < minimum:
            raise self.error(f"must be greater than or equal to {minimum}, got {value}")
        return value

    def number(self, value: Any, default: float | None = None, minimum: float | None = None) -> float:
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"expected a number, got {type_name(value)} {show(value)}")
        if minimum is not None and value < minimum:
            raise self.error(f"must be greater than or equal to {minimum}, got {value}")
        return float(value)

    def boolean(self, value: Any, default: bool | None = None) -> bool:
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {type_name(value)} {show(value)}")
        return value

    def duration(self, value: Any) -> float:
        try:
            return parse_duration(value)
        except QuantityError:
            raise self.error(f"{show(value)} is not a duration (write it like 90s, 5m or 1h30m)") from None

    def string_map(self, value: Any) -> tuple[tuple[str, str], ...]:
        """A map of string to string (labels, annotations, nodeSelector), sorted for determinism."""
        out = []
        for k, v in self.mapping(value).items():
            if not isinstance(k, str):
                raise self.error(f"keys must be strings, got {type_name(k)} {show(k)}")
            out.append((k, self.key(k).string(v)))
        return tuple(sorted(out))

    def resources(self, value: Any) -> dict[str, int]:
        """A ResourceList: name → canonical amount (``resource_amount``), each bad value named by its key."""
        return {
            str(name): self.key(str(name)).amount(str(name), v) for name, v in self.mapping(value).items()
        }

    def amount(self, resource: str, value: Any) -> int:
        """One amount of ``resource`` in its canonical unit (``resource_amount``: millicores for cpu, whole
        units otherwise), within lwssim's limit."""
        try:
            out = resource_amount(resource, value)
        except QuantityError as exc:
            why = "must not be negative" if "negative" in str(exc) else "is not a quantity"
            raise self.error(f"{show(value)} {why}") from None
        if out > MAX_QUANTITY:
            limit = "10^18 (bytes, millicores or units)"
            raise self.error(f"{show(value)} is beyond lwssim's limit of {limit} for one amount")
        return out


def check_int32(where: Where, value: int) -> int:
    if value > MAX_INT32:
        raise where.error(f"must be at most {MAX_INT32} (int32), got {value}")
    return value


def distribution(raw: Any, at: Where) -> Distribution:
    """A duration (fixed) or one of {fixed} {uniform: {min, max}} {normal: {mean, stddev}} {lognormal}."""
    if isinstance(raw, str):
        return Distribution.fixed(at.duration(raw))
    kind, body = next(iter(raw.items()))
    b_at = at.key(kind)
    if kind == "fixed":
        return Distribution.fixed(b_at.duration(body))
    if kind == "uniform":
        lo, hi = b_at.key("min").duration(body["min"]), b_at.key("max").duration(body["max"])
        if lo > hi:
            raise b_at.error(f"min ({body['min']}) must not exceed max ({body['max']})")
        return Distribution("uniform", lo, hi)
    if kind == "normal":
        return Distribution(
            "normal", b_at.key("mean").duration(body["mean"]), b_at.key("stddev").duration(body["stddev"])
        )
    return Distribution("lognormal", b_at.key("median").duration(body["median"]), float(body["sigma"]))
