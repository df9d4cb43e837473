"""A fuzzer holds the input contract (issue 13): mutated bundled scenarios never get a traceback or a hang.

Hypothesis takes the scenarios under scenarios/ and tests/data/ and mutates them: drops, duplicates,
retypes, nests and enlarges fields, shares subtrees as YAML aliases (up to alias bombs), duplicates lines
(duplicate keys), cuts the file short and splices in random bytes. Each case runs `lwssim simulate` in
this process within a time and memory bound and must keep the contract of support.assert_input_contract:
exit 0, 1 or 2, no traceback, at most one error line. The profile is derandomized: the same examples on
every machine and every run, so a failure here is a regression to reproduce, not a flake. The bugs it found
are named cases in test_input_edge.py.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import assert_input_contract, run_cli

REPO = Path(__file__).parent.parent
BUNDLED = sorted((REPO / "scenarios").rglob("*.yaml")) + sorted((REPO / "tests" / "data").glob("*.yaml"))
SCENARIOS = [p for p in BUNDLED if "kind: Scenario" in p.read_text(encoding="utf-8")]


def referenced_files() -> dict[Path, Path]:
    """The manifest and node files the bundled scenarios name, each with a scenario that reads it."""
    out: dict[Path, Path] = {}
    for scenario in SCENARIOS:
        spec = yaml.safe_load(scenario.read_text(encoding="utf-8"))["spec"]
        refs = [w["file"] for w in spec["workloads"] if "file" in w] + [spec["cluster"].get("nodes")]
        for ref in filter(None, refs):
            out.setdefault((scenario.parent / ref).resolve(), scenario)
    return out


READ_BY = referenced_files()
SEEDS = SCENARIOS + sorted(READ_BY)  # a referenced file is mutated in place and its scenario run
FUZZ = settings(
    max_examples=500,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# Weighted by repetition: enlarging and duplicating keep documents valid more often, so more cases get
# past validation into the engine.
OPS = ["drop", "duplicate", "duplicate", "retype", "nest", "enlarge", "enlarge", "enlarge", "alias", "bomb"]
ODD_VALUES = st.sampled_from(
    [0, -1, 1, 7, 2**31, 2**63 - 1, -(2**63), 0.5, -0.0, 1e300, float("inf"), float("nan"), "", "x", "90s",
     "-5m", "0s", "1e9h", "8x", "500m", "1Ti", "é✓", True, False, None, [], {}, [1], {"a": 1}, "a" * 5000]
)  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of scenarios/ and tests/data/, so mutated files sit beside the files they reference."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    shutil.copytree(REPO / "tests" / "data", root / "tests" / "data")
    return root


def paths(node: Any, prefix: tuple = (), seen: set[int] | None = None) -> list[tuple]:
    """Every place in a parsed document (tuples of keys and indices); a shared subtree is entered once."""
    seen = set() if seen is None else seen
    out = [prefix]
    if isinstance(node, dict | list) and id(node) not in seen:
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            out += paths(v, (*prefix, k), seen)
    return out


def get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def put(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    get(doc, path[:-1])[path[-1]] = value
    return doc


def enlarge(value: Any, factor: int) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value * factor
    if isinstance(value, str):
        digits = "".join(c for c in value if c.isdigit())
        return value.replace(digits, str(int(digits) * factor), 1) if digits else value * min(factor, 1000)
    if isinstance(value, list):
        return value * min(factor, 50)
    return value


def bomb(levels: int) -> list:
    """A billion-laughs structure: every level nine references to the one below (aliases once dumped)."""
    node: list = ["lol"] * 9
    for _ in range(levels):
        node = [node] * 9
    return node


@st.composite
def mutated_document(draw: st.DrawFn) -> tuple[Path, bytes]:
    """A bundled file (scenario, manifest or node list) after one or two mutations and a text edit."""
    seed = draw(st.sampled_from(SEEDS))
    doc = list(yaml.safe_load_all(seed.read_text(encoding="utf-8")))  # the documents, as one list
    for _ in range(draw(st.integers(1, 2))):
        places = paths(doc)
        path = draw(st.sampled_from(places))
        value = get(doc, path) if path else doc
        op = draw(st.sampled_from(OPS))
        if op == "drop" and path:
            del get(doc, path[:-1])[path[-1]]
        elif op == "duplicate" and path and isinstance(get(doc, path[:-1]), list):
            get(doc, path[:-1]).insert(path[-1], copy.deepcopy(value))
        elif op == "retype":
            doc = put(doc, path, draw(ODD_VALUES))
        elif op == "nest":
            for _ in range(draw(st.sampled_from([1, 2, 40, 120]))):
                value = draw(st.sampled_from([[value], {"x": value}]))
            doc = put(doc, path, value)
        elif op == "enlarge":
            doc = put(doc, path, enlarge(value, draw(st.sampled_from([2, 10, 1000, 10**6, 10**12]))))
        elif op == "alias" and path:  # share another subtree: yaml dumps it as &anchor / *alias
            source = draw(st.sampled_from(places))
            if path[: len(source)] != source:  # not an ancestor: that would be a cycle
                doc = put(doc, path, get(doc, source))
        elif op == "bomb":
            doc = put(doc, path, bomb(draw(st.integers(1, 8))))
    docs = doc if isinstance(doc, list) else [doc]
    text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True).encode()
    edit = draw(st.sampled_from(["none"] * 5 + ["duplicate-line", "cut", "bytes", "text"]))
    at = draw(st.integers(0, len(text)))
    if edit == "duplicate-line" and text:
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        text = b"".join(lines[: i + 1] + lines[i:])
    elif edit == "cut":
        text = text[:at]
    elif edit == "bytes":
        text = text[:at] + draw(st.binary(min_size=1, max_size=16)) + text[at:]
    elif edit == "text":  # YAML's own characters and indentation, spliced in
        spliced = draw(st.text(alphabet=":-[]{}&*!|>'\"#%@ \n\t\\x9", max_size=8))
        text = text[:at] + spliced.encode() + text[at:]
    return seed, text


@FUZZ
@given(case=mutated_document())
def test_mutated_scenarios_keep_the_input_contract(workspace: Path, case: tuple[Path, bytes]) -> None:
    seed, text = case
    scenario = READ_BY.get(seed)
    target = workspace / seed.relative_to(REPO)
    if scenario is None:  # a scenario: written beside the original, which stays as it is
        target = target.with_name("fuzzed.yaml")
        scenario = target
    else:
        scenario = workspace / scenario.relative_to(REPO)
    target.write_bytes(text)
    try:
        out = run_cli(["simulate", str(scenario), "-o", "json"], seconds=60, memory=1536 * 2**20)
    finally:
        if target.name != "fuzzed.yaml":
            target.write_bytes(seed.read_bytes())
    assert_input_contract(out)
    event(f"exit {out.code}")  # --hypothesis-show-statistics: how many cases got past validation
