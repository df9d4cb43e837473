"""Manifests of the other workloads of a shared cluster → :mod:`lwssim.model.workloads`: Deployments,
StatefulSets, Jobs and bare Pods (each with the API server's defaults, kubernetes v1.34
``pkg/apis/{apps,batch,core}/v1/defaults.go``) and PodDisruptionBudgets.

What the controllers of these kinds do beyond creating and replacing pods (Deployment rollouts, a
StatefulSet's volume claims, a Job's ``podFailurePolicy`` or ``successPolicy``) is refused by field, not
ignored, where it would change placement or recovery.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from lwssim.errors import clip
from lwssim.manifests.lws import int_or_percent
from lwssim.manifests.podspec import label_selector, pod_spec, pod_template
from lwssim.manifests.where import Where, distribution, show
from lwssim.model.timing import Distribution
from lwssim.model.workloads import (
    DEPLOYMENT,
    INDEXED,
    JOB,
    NON_INDEXED,
    ORDERED_READY,
    PARALLEL,
    POD,
    RUN_DURATION,
    STATEFULSET,
    DisruptionBudget,
    PodWorkload,
)

KINDS = {
    ("apps/v1", DEPLOYMENT),
    ("apps/v1", STATEFULSET),
    ("batch/v1", JOB),
    ("v1", POD),
}
PDB = ("policy/v1", "PodDisruptionBudget")
# Fields whose behaviour is not simulated and that would change what is placed or when.
REFUSED = {
    DEPLOYMENT: ("paused",),
    STATEFULSET: ("volumeClaimTemplates",),
    JOB: ("podFailurePolicy", "successPolicy", "backoffLimitPerIndex", "suspend", "activeDeadlineSeconds"),
}


def metadata(obj: dict, where: Where) -> tuple[str, str, tuple[tuple[str, str], ...], dict]:
    """(name, namespace, labels, annotations as a dict) of an object."""
    at = where.key("metadata")
    meta = at.mapping(obj.get("metadata"))
    name = at.key("name").string(meta.get("name"))
    namespace = at.key("namespace").string(meta.get("namespace"), "default")
    return (
        name,
        namespace,
        at.key("labels").string_map(meta.get("labels")),
        dict(at.key("annotations").string_map(meta.get("annotations"))),
    )


def pod_workload(obj: dict, where: Where, source: str, at: float) -> PodWorkload:
    kind = obj["kind"]
    name, namespace, labels, annotations = metadata(obj, where)
    if kind == POD:
        template = pod_spec(
            obj.get("spec"), where.key("spec"), labels=labels, annotations=tuple(sorted(annotations.items()))
        )
        return PodWorkload(POD, name, namespace, 1, template, labels, at=at, source=source)
    spec_at = where.key("spec")
    spec = spec_at.mapping(obj.get("spec"))
    for field in REFUSED.get(kind, ()):
        if spec.get(field) not in (None, False):
            raise spec_at.key(field).unsupported(
                f"{kind} {field} is not simulated; remove it to simulate the {kind}"
            )
    template = pod_template(spec.get("template"), spec_at.key("template"))
    selector = label_selector(spec.get("selector"), spec_at.key("selector"))
    if kind != JOB or spec.get("selector") is not None:
        if not selector.requirements():
            raise spec_at.key("selector").error("Required value: a selector is required")
        if not selector.matches(dict(template.labels)):
            raise (
                spec_at.key("template")
                .key("metadata")
                .key("labels")
                .error("Invalid value: `selector` does not match template `labels`")
            )
    if kind == JOB:
        return _job(where, spec, name, namespace, labels, annotations, template, source, at)
    replicas = spec_at.key("replicas").integer(spec.get("replicas"), 1, minimum=0)
    management = ORDERED_READY
    if kind == STATEFULSET:
        management = spec_at.key("podManagementPolicy").string(spec.get("podManagementPolicy"), ORDERED_READY)
        if management not in (ORDERED_READY, PARALLEL):
            raise spec_at.key("podManagementPolicy").error(
                f'Unsupported value: "{clip(management)}": supported values: {ORDERED_READY}, {PARALLEL}'
            )
    return PodWorkload(
        kind, name, namespace, replicas, template, labels, selector, at, source, pod_management=management
    )


def _job(
    where: Where,
    spec: dict,
    name: str,
    namespace: str,
    labels: tuple[tuple[str, str], ...],
    annotations: dict,
    template: Any,
    source: str,
    at: float,
) -> PodWorkload:
    """batch/v1 Job defaults: parallelism 1, completions unset, backoffLimit 6, NonIndexed."""
    spec_at = where.key("spec")
    parallelism = spec_at.key("parallelism").integer(spec.get("parallelism"), 1, minimum=0)
    completions = None
    if spec.get("completions") is not None:
        completions = spec_at.key("completions").integer(spec.get("completions"), minimum=0)
    mode = spec_at.key("completionMode").string(spec.get("completionMode"), NON_INDEXED)
    if mode not in (NON_INDEXED, INDEXED):
        raise spec_at.key("completionMode").error(
            f'Unsupported value: "{clip(mode)}": supported values: {NON_INDEXED}, {INDEXED}'
        )
    if mode == INDEXED and completions is None:
        raise spec_at.key("completions").error("Required value: when completion mode is Indexed")
    run = annotations.get(RUN_DURATION)
    return PodWorkload(
        JOB,
        name,
        namespace,
        parallelism,
        template,
        labels,
        at=at,
        source=source,
        completions=completions,
        completion_mode=mode,
        backoff_limit=spec_at.key("backoffLimit").integer(spec.get("backoffLimit"), 6, minimum=0),
        run_duration=None
        if run is None
        else run_duration(run, where.key("metadata").key("annotations").key(RUN_DURATION)),
    )


def run_duration(text: str, where: Where) -> Distribution:
    """``lwssim.io/run-duration``: a duration ("2h"), or a distribution as in ``timing`` written as JSON or
    flow YAML (``{uniform: {min: 1h, max: 2h}}``)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return Distribution.fixed(where.duration(stripped))
    try:
        raw = yaml.safe_load(stripped)
    except yaml.YAMLError:
        try:
            raw = json.loads(stripped)
        except ValueError:
            raise where.error(f"{show(text)} is neither a duration nor a distribution") from None
    if (
        not isinstance(raw, dict)
        or len(raw) != 1
        or next(iter(raw))
        not in (
            "fixed",
            "uniform",
            "normal",
            "lognormal",
        )
    ):
        raise where.error(
            f"{show(text)}: write a duration (2h) or one of {{fixed: D}}, {{uniform: {{min: D, max: D}}}}, "
            "{normal: {mean: D, stddev: D}}, {lognormal: {median: D, sigma: X}}"
        )
    return distribution(raw, where)


def disruption_budget(obj: dict, where: Where, at: float) -> DisruptionBudget:
    name, namespace, _, _ = metadata(obj, where)
    spec_at = where.key("spec")
    spec = spec_at.mapping(obj.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        raise spec_at.error("minAvailable and maxUnavailable cannot be both set")
    values: list[int | str | None] = []
    for key in ("minAvailable", "maxUnavailable"):
        value = spec.get(key)
        if value is not None:
            int_or_percent(spec_at.key(key), value, 100, True)  # validates int ≥ 0 or "N%"
        values.append(value)
    return DisruptionBudget(
        name,
        namespace,
        label_selector(spec.get("selector"), spec_at.key("selector")),
        values[0],
        values[1],
        at,
    )
