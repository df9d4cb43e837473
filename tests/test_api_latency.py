"""API latency per kind of call: the scenario's ``timing.apiLatency``, the engine's use of each kind, and
its fit from a kube-apiserver audit log (lwssim/analysis/audit.py, `lwssim calibrate --audit-log`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support import load, lws, pool, run, scenario_doc, write_scenario

from lwssim.analysis.audit import api_latency, chains, read_calls
from lwssim.cli import cli
from lwssim.errors import InputError
from lwssim.model.timing import ApiLatency, Distribution
from lwssim.timeline import POD_CREATED

AUDIT = Path(__file__).parent / "data" / "audit-surge-rollout.jsonl"  # lwssim emulator, 2026-12-01


def with_latency(latency: object) -> dict:
    return scenario_doc([pool(count=2)], [lws(size=2)], timing={"apiLatency": latency})


def created_at(doc: dict) -> dict[str, float]:
    _, tl = run(doc)
    return {r.subject: r.t for r in tl.records if r.kind == POD_CREATED}


def test_one_distribution_is_every_kind_of_call() -> None:
    latency = load(with_latency("50ms")).timing.api_latency
    assert latency == ApiLatency.every_call(Distribution.fixed(0.05))


def test_kinds_not_given_keep_their_defaults() -> None:
    latency = load(with_latency({"podCreate": "1s"})).timing.api_latency
    assert latency.pod_create == Distribution.fixed(1.0)
    assert (
        latency.delete == ApiLatency().delete
        and latency.statefulset_create == ApiLatency().statefulset_create
    )


def test_an_unknown_kind_of_call_is_refused_by_name(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, with_latency({"podCreate": "1s", "podDelete": "1s"}))
    result = CliRunner().invoke(cli, ["simulate", str(path)])
    assert result.exit_code == 2
    assert "apiLatency" in result.output and "podDelete" in result.output


def test_each_kind_delays_the_calls_of_its_kind() -> None:
    """Fixed latencies: the leader StatefulSet's revision (2 s) then the leader pod (1 s); the worker
    StatefulSet (4 s) after the leader pod, then its revision and its pod."""
    times = created_at(
        with_latency(
            {"podCreate": "1s", "controllerRevisionCreate": "2s", "statefulSetCreate": "4s", "delete": "0s"}
        )
    )
    assert times["llm-0"] == pytest.approx(3.0)
    assert times["llm-0-1"] == pytest.approx(3.0 + 4.0 + 2.0 + 1.0)


def test_audit_log_chains_pair_the_calls_the_controllers_chain() -> None:
    """One create and one surge rollout of a 4×2 LWS on the emulator: every kind has samples, all under a
    second; the worker StatefulSet of group 1 follows its leader pod by exactly the gap in the log."""
    calls = read_calls(str(AUDIT))
    found: dict[str, list[float]] = {}
    for kind, seconds in chains(calls):
        found.setdefault(kind, []).append(seconds)
    assert set(found) == {"podCreate", "controllerRevisionCreate", "statefulSetCreate", "delete"}
    assert all(0 <= s < 1.0 for xs in found.values() for s in xs)
    leader = next(c for c in calls if (c.verb, c.resource, c.name) == ("create", "pods", "race-1"))
    workers = next(c for c in calls if (c.verb, c.resource, c.name) == ("create", "statefulsets", "race-1"))
    assert workers.done - leader.done in found["statefulSetCreate"]


def test_audit_log_fit_is_written_as_a_timing_block_the_simulator_reads(tmp_path: Path) -> None:
    out = tmp_path / "timing.yaml"
    result = CliRunner().invoke(cli, ["calibrate", "--audit-log", str(AUDIT), "-o", str(out)])
    assert result.exit_code == 0, result.output
    timing = yaml.safe_load(out.read_text())["timing"]
    assert set(timing["apiLatency"]) == {
        "podCreate",
        "controllerRevisionCreate",
        "statefulSetCreate",
        "delete",
    }
    fitted = load(with_latency(timing["apiLatency"])).timing.api_latency
    assert fitted.pod_create.kind == "lognormal" and 0.01 < fitted.pod_create.a < 0.2
    assert api_latency([str(AUDIT)])["fits"][0]["n"] > 5


def test_audit_log_ignores_failed_calls_subresources_and_slow_gaps(tmp_path: Path) -> None:
    def event(verb: str, resource: str, name: str, at: str, code: int = 201, sub: str = "") -> str:
        ref = {
            "resource": resource,
            "namespace": "default",
            "name": name,
            **({"subresource": sub} if sub else {}),
        }
        return json.dumps(
            {
                "stage": "ResponseComplete",
                "verb": verb,
                "objectRef": ref,
                "responseStatus": {"code": code},
                "requestReceivedTimestamp": at,
                "stageTimestamp": at,
                "userAgent": "test",
            }
        )

    log = tmp_path / "audit.log"
    log.write_text(
        "\n".join(
            [
                event("create", "pods", "a-0", "2026-12-01T10:00:00.000000Z"),
                event("create", "statefulsets", "a-0", "2026-12-01T10:00:00.050000Z", code=409),
                event("patch", "pods", "a-0", "2026-12-01T10:00:00.060000Z", code=200, sub="status"),
                event("create", "statefulsets", "a-0", "2026-12-01T10:00:00.080000Z"),
                event("create", "pods", "b-0", "2026-12-01T10:00:01.000000Z"),
                event(
                    "create", "statefulsets", "b-0", "2026-12-01T10:00:02.500000Z"
                ),  # 1.5 s: not a reaction
            ]
        )
        + "\n"
    )
    assert [(k, round(s, 3)) for k, s in chains(read_calls(str(log)))] == [("statefulSetCreate", 0.08)]


def test_a_broken_audit_log_names_the_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text('{"stage": "ResponseComplete"}\nnot json\n')
    with pytest.raises(InputError, match="line 2"):
        read_calls(str(log))
