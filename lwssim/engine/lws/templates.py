"""The pod templates the LWS controllers stamp on their StatefulSets, one object per distinct content."""

from __future__ import annotations

from dataclasses import replace

from lwssim.model.pod import PodTemplate


class TemplateCache:
    """``base`` with extra labels and annotations, shared by both controllers of one manager.

    Equal templates are one object: a recreated group's worker set gets the template its
    predecessor had, its hash and placement already known to the StatefulSet controller and scheduler.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple[PodTemplate, tuple, tuple], PodTemplate] = {}

    def derived(self, base: PodTemplate, labels: dict[str, str], annotations: dict[str, str]) -> PodTemplate:
        key = (base, tuple(sorted(labels.items())), tuple(sorted(annotations.items())))
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = replace(base, labels=key[1], annotations=key[2])
        return template
