"""PriorityClasses and the Priority admission plugin (kubernetes v1.34
``plugin/pkg/admission/priority/admission.go``): every pod a scenario creates gets its priority and
preemption policy from its ``priorityClassName``, else from the ``globalDefault`` class, else 0.

``admitPod``: a named class that does not exist refuses the pod ("no PriorityClass with name X was
found"); a pod that also gives ``spec.priority`` must give the value the class resolves to; the class's
``preemptionPolicy`` applies unless the pod sets its own. Pods of a snapshot were admitted by the cluster
already and keep the integer it resolved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lwssim.errors import clip
from lwssim.manifests.where import MAX_INT32, Where
from lwssim.model.lws import LeaderWorkerSetSpec
from lwssim.model.pod import PodTemplate
from lwssim.model.workloads import NEVER, PREEMPT_LOWER_PRIORITY, SYSTEM_PRIORITY_CLASSES, PriorityClass

API_VERSION = "scheduling.k8s.io/v1"
KIND = "PriorityClass"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000  # scheduling.HighestUserDefinablePriority


def priority_class(obj: dict, where: Where) -> PriorityClass:
    """A PriorityClass document, validated as the API server does (``ValidatePriorityClass``)."""
    meta = where.key("metadata").mapping(obj.get("metadata"))
    name = where.key("metadata").key("name").string(meta.get("name"))
    value = where.key("value").integer(obj.get("value"))
    if name.startswith("system-"):
        raise (
            where.key("metadata")
            .key("name")
            .error(
                f"\"{clip(name)}\": priority class names with 'system-' prefix are reserved for system use"
            )
        )
    if value > HIGHEST_USER_DEFINABLE_PRIORITY:
        raise where.key("value").error(
            "Forbidden: maximum allowed value of a user defined priority is "
            f"{HIGHEST_USER_DEFINABLE_PRIORITY}"
        )
    if value < -MAX_INT32 - 1:
        raise where.key("value").error(f"must be at least {-MAX_INT32 - 1} (int32), got {value}")
    policy = where.key("preemptionPolicy").string(obj.get("preemptionPolicy"), PREEMPT_LOWER_PRIORITY)
    if policy not in (PREEMPT_LOWER_PRIORITY, NEVER):
        raise where.key("preemptionPolicy").error(
            f'Unsupported value: "{clip(policy)}": supported values: {PREEMPT_LOWER_PRIORITY}, {NEVER}'
        )
    return PriorityClass(
        name, value, where.key("globalDefault").boolean(obj.get("globalDefault"), False), policy
    )


class PriorityAdmission:
    """The classes a scenario defines (plus the system ones) and the plugin's admission of pods."""

    def __init__(self) -> None:
        self.classes: dict[str, PriorityClass] = {c.name: c for c in SYSTEM_PRIORITY_CLASSES}
        self.places: dict[str, Where] = {}

    def add(self, pc: PriorityClass, where: Where) -> None:
        if pc.name in self.places:
            raise where.error(
                f'PriorityClass "{pc.name}" is defined twice (also in {self.places[pc.name].file})'
            )
        default = self.global_default()
        if pc.global_default and default is not None:
            raise where.key("globalDefault").error(
                f"Forbidden: globalDefault is already set by PriorityClass {default.name}: "
                "only one PriorityClass can be marked as globalDefault"
            )
        self.classes[pc.name] = pc
        self.places[pc.name] = where

    def global_default(self) -> PriorityClass | None:
        return next((c for c in self.classes.values() if c.global_default), None)

    def admit(self, t: PodTemplate, where: Where, pod: str) -> PodTemplate:
        """``t`` with the priority and preemption policy the plugin sets; ``pod`` names it in errors."""
        if t.priority_class_name:
            pc: Any = self.classes.get(t.priority_class_name)
            if pc is None:
                known = ", ".join(sorted(self.classes))
                raise where.key("priorityClassName").error(
                    f'pods "{pod}" is forbidden: no PriorityClass with name {clip(t.priority_class_name)} '
                    f"was found (PriorityClasses: {known})"
                )
        else:
            pc = self.global_default()
        value = pc.value if pc is not None else 0
        if t.priority not in (0, value):
            raise where.key("priority").error(
                f"the integer value of priority ({t.priority}) must not be provided in pod spec; priority "
                f"admission controller computed {value} from the given PriorityClass name"
            )
        policy = t.preemption_policy or (pc.preemption_policy if pc is not None else PREEMPT_LOWER_PRIORITY)
        if (t.priority, t.preemption_policy) == (value, policy):
            return t
        return replace(t, priority=value, preemption_policy=policy)

    def admit_lws(self, spec: LeaderWorkerSetSpec, where: Where) -> LeaderWorkerSetSpec:
        """A LeaderWorkerSet's pods, leader and workers, as they will be admitted."""
        worker = self.admit(spec.worker_template, where.key("workerTemplate").key("spec"), f"{spec.name}-0-1")
        leader = spec.leader_template
        if leader is not None:
            leader = self.admit(leader, where.key("leaderTemplate").key("spec"), f"{spec.name}-0")
        if worker is spec.worker_template and leader is spec.leader_template:
            return spec
        return replace(spec, worker_template=worker, leader_template=leader)
