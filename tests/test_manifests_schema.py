"""The published JSON Schema and the loader agree (the loader's structural check is driven by it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import merge, write_scenario

from lwssim.errors import InputError
from lwssim.manifests.scenario import load_scenario
from lwssim.manifests.schema import scenario_schema

jsonschema = pytest.importorskip("jsonschema")  # test-only dependency (pyproject `test` extra)

ROOT = Path(__file__).parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml")) + [
    Path(__file__).parent / "data" / "scenario-full.yaml"
]


def validator():
    return jsonschema.Draft202012Validator(scenario_schema())


def test_schema_is_valid_draft_2020_12():
    schema = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_scenario_passes_both(path):
    doc = yaml.safe_load(path.read_text())
    errors = [e.message for e in validator().iter_errors(doc)]
    assert not errors
    load_scenario(path)


BAD = [
    {"spec": {"horzion": "1h"}},
    {"spec": {"horizon": "6 hours"}},
    {"spec": {"seed": "x"}},
    {"spec": {"controller": {"gangScheduling": "kueue"}}},
    {"spec": {"timing": {"modelLoad": {"fixed": "1m", "uniform": {"min": "1m", "max": "2m"}}}}},
    {"spec": {"cluster": {"nodePools": [{"name": "p", "count": 1, "capacity": {"cpu": "1x"}}]}}},
    {"spec": {"expect": [{"workload": "llm", "groupsServing": {"around": 1}}]}},
    {"spec": {"faults": {"scripted": [{"at": "1h"}]}}},
]


@pytest.mark.parametrize("patch", BAD, ids=lambda p: str(p)[:60])
def test_both_reject_the_same_bad_inputs(tmp_path, patch):
    base = yaml.safe_load((Path(__file__).parent / "data" / "scenario-full.yaml").read_text())
    doc = merge(base, patch)
    assert list(validator().iter_errors(doc)), "jsonschema accepted it"
    f = write_scenario(tmp_path, doc, "s.yaml")
    for name in ("nodes.yaml", "lws-small.yaml"):
        (tmp_path / name).write_text((Path(__file__).parent / "data" / name).read_text())
    with pytest.raises(InputError):
        load_scenario(f)
