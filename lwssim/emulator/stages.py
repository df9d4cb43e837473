"""KWOK Stages that give fake pods and nodes the timing and faults of a scenario.

KWOK runs with ``--enable-crds=Stage``: it loads no built-in stages and follows the Stage objects in
the cluster, so stages can be applied, replaced and deleted while the emulator runs
(:func:`apply_stages`, :func:`delete_stages`).  The lifecycle a pod goes through here:

``scheduled`` --pod-create (at once: Pending, ContainerCreating, pod IP)-->
``start_delay_s`` (image pull, container start) --pod-start--> Running, containers started, not Ready
``ready_delay_s`` (model load until the readiness probe passes) --pod-ready--> Ready.

Faults:

* :func:`container_failure_stage` — a pod labelled ``lwssim.emulator/container-failure=true``
  has its containers fail once after it is Running: ``restartCount`` becomes 1 and ``lastState``
  holds the termination, as a kubelet reports for ``restartPolicy: Always`` (the only policy a
  StatefulSet pod has).  LWS's ``RecreateGroupOnPodRestart`` reacts to exactly that.  Label a running
  pod (``kubectl label pod P lwssim.emulator/container-failure=true``) or put the label on a
  ``workerTemplate``.

Pod deletions and node faults are not stages: KWOK deletes by name without a UID precondition and keeps
serving a node whose Ready condition a stage flipped, which no real kubelet does. ``lwssim.emulator.kubelet``
does both as a kubelet would (``lwssim.emulator/node-not-ready=true`` on a node stops its kubelet).

KWOK's delay is uniform in ``[durationMilliseconds, jitterDurationMilliseconds]``, so a jitter of
``j`` seconds maps to ``jitterDurationMilliseconds = (delay + j) * 1000``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

STAGE_GROUP = "kwok.x-k8s.io"
STAGE_VERSION = "v1alpha1"
STAGE_PLURAL = "stages"
FAILURE_LABEL = "lwssim.emulator/container-failure"
MANAGED_LABEL = "lwssim.emulator/managed"

Stage = dict[str, Any]


def _delay(delay_s: float, jitter_s: float = 0.0) -> dict[str, int] | None:
    if delay_s <= 0 and jitter_s <= 0:
        return None
    d: dict[str, int] = {"durationMilliseconds": int(round(max(delay_s, 0.0) * 1000))}
    if jitter_s > 0:
        d["jitterDurationMilliseconds"] = int(round((max(delay_s, 0.0) + jitter_s) * 1000))
    return d


def _stage(
    name: str,
    kind: str,
    exprs: list[dict[str, Any]],
    next_: dict[str, Any],
    delay: dict[str, int] | None = None,
    weight: int | None = None,
) -> Stage:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": exprs},
        "next": next_,
    }
    if delay:
        spec["delay"] = delay
    if weight is not None:
        spec["weight"] = weight
    return {
        "apiVersion": f"{STAGE_GROUP}/{STAGE_VERSION}",
        "kind": "Stage",
        "metadata": {"name": name, "labels": {MANAGED_LABEL: "true"}},
        "spec": spec,
    }


def _e(key: str, op: str, *values: str) -> dict[str, Any]:
    d: dict[str, Any] = {"key": key, "operator": op}
    if values:
        d["values"] = list(values)
    return d


_NOT_DELETED = _e(".metadata.deletionTimestamp", "DoesNotExist")
_READY = '.status.conditions.[] | select( .type == "Ready" ) | .status'
_IPS = """hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
"""

_POD_CREATE = (
    """{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  message: 'containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]'
  reason: ContainersNotReady
  status: "False"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  message: 'containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]'
  reason: ContainersNotReady
  status: "False"
  type: ContainersReady
{{ range .spec.readinessGates }}
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: {{ .conditionType | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    waiting:
      reason: ContainerCreating
{{ end }}
"""
    + _IPS
    + """phase: Pending
startTime: {{ $now | Quote }}
"""
)

_POD_START = """{{ $now := Now }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with .spec.initContainers }}
initContainerStatuses:
{{ range . }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
phase: Running
"""

# Keeps restartCount, lastState and the original startedAt, so a restarted container stays visible.
_CONTAINER_KEEP = """  restartCount: {{ or $origin.restartCount 0 }}
  {{ with $origin.lastState }}{{ with .terminated }}
  lastState:
    terminated:
      exitCode: {{ .exitCode }}
      reason: {{ .reason | Quote }}
      startedAt: {{ .startedAt | Quote }}
      finishedAt: {{ .finishedAt | Quote }}
  {{ end }}{{ end }}
"""

_POD_READY = (
    """{{ $now := Now }}
{{ $root := . }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  message: ''
  reason: ''
  status: "True"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  message: ''
  reason: ''
  status: "True"
  type: ContainersReady
containerStatuses:
{{ range $index, $item := .spec.containers }}
{{ $origin := index $root.status.containerStatuses $index }}
{{ $started := $now }}{{ with $origin.state }}{{ with .running }}{{ $started = .startedAt }}{{ end }}{{ end }}
- image: {{ $item.image | Quote }}
  name: {{ $item.name | Quote }}
  ready: true
  started: true
"""
    + _CONTAINER_KEEP
    + """  state:
    running:
      startedAt: {{ $started | Quote }}
{{ end }}
"""
)

_CONTAINER_FAIL = """{{ $now := Now }}
{{ $root := . }}
{{ $annotations := or .metadata.annotations dict }}
{{ $exit := or ( index $annotations "lwssim.emulator/exit-code" ) 1 }}
{{ $reason := or ( index $annotations "lwssim.emulator/reason" ) "Error" }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  message: 'containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]'
  reason: ContainersNotReady
  status: "False"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  message: 'containers with unready status: [{{ range .spec.containers }}{{ .name }} {{ end }}]'
  reason: ContainersNotReady
  status: "False"
  type: ContainersReady
containerStatuses:
{{ range $index, $item := .spec.containers }}
{{ $origin := index $root.status.containerStatuses $index }}
{{ $started := $now }}{{ with $origin.state }}{{ with .running }}{{ $started = .startedAt }}{{ end }}{{ end }}
- image: {{ $item.image | Quote }}
  name: {{ $item.name | Quote }}
  ready: false
  started: true
  restartCount: {{ add ( or $origin.restartCount 0 ) 1 }}
  lastState:
    terminated:
      exitCode: {{ $exit }}
      reason: {{ $reason | Quote }}
      startedAt: {{ $started | Quote }}
      finishedAt: {{ $now | Quote }}
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
"""

_NODE_CONDITIONS = """{{ $now := Now }}
{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $lastTransitionTime | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
"""

_NODE_INIT = (
    _NODE_CONDITIONS
    + """addresses:
{{ with .status.addresses }}
{{ YAML . 1 }}
{{ else }}
{{ with NodeIP }}
- address: {{ . | Quote }}
  type: InternalIP
{{ end }}
{{ with NodeName }}
- address: {{ . | Quote }}
  type: Hostname
{{ end }}
{{ end }}
allocatable:
{{ with .status.allocatable }}
{{ YAML . 1 }}
{{ else }}
  cpu: 1k
  memory: 1Ti
  pods: 1M
{{ end }}
capacity:
{{ with .status.capacity }}
{{ YAML . 1 }}
{{ else }}
  cpu: 1k
  memory: 1Ti
  pods: 1M
{{ end }}
{{ $nodeInfo := .status.nodeInfo }}
{{ $kwokVersion := printf "kwok-%s" Version }}
nodeInfo:
  architecture: {{ or $nodeInfo.architecture "amd64" }}
  bootID: {{ or $nodeInfo.bootID `""` }}
  containerRuntimeVersion: {{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}
  kernelVersion: {{ or $nodeInfo.kernelVersion $kwokVersion }}
  kubeProxyVersion: {{ or $nodeInfo.kubeProxyVersion $kwokVersion }}
  kubeletVersion: {{ or $nodeInfo.kubeletVersion $kwokVersion }}
  machineID: {{ or $nodeInfo.machineID `""` }}
  operatingSystem: {{ or $nodeInfo.operatingSystem "linux" }}
  osImage: {{ or $nodeInfo.osImage `""` }}
  systemUUID: {{ or $nodeInfo.systemUUID `""` }}
phase: Running
"""
)


def node_stages() -> list[Stage]:
    """Nodes become Ready at once; their Lease carries the heartbeat, as a kubelet's does.

    No stage refreshes node conditions on a timer (KWOK's own defaults have none when leases are on,
    ``pkg/kwok/cmd/root.go``): a status refresh queued before a node fault would fire after it and push
    kube-controller-manager's NotReady past its grace period. KWOK plays no stage for a node whose Lease it
    does not hold: that is how a node fault stops it (``lwssim.emulator.kubelet``).
    """
    return [
        _stage(
            "node-initialize",
            "Node",
            [_e(_READY, "NotIn", "True")],
            {"statusTemplate": _NODE_INIT},
        ),
    ]


def pod_stages(
    start_delay_s: float = 0.0,
    ready_delay_s: float = 0.0,
    jitter_s: float = 0.0,
) -> list[Stage]:
    """KWOK Stages for the pod lifecycle with the given timing.

    ``start_delay_s``: pod scheduled -> containers started (image pull, container create).
    ``ready_delay_s``: containers started -> Ready (model load until the readiness probe passes).
    ``jitter_s``: each delay is drawn uniformly from ``[delay, delay + jitter_s]``.
    Deleted pods are removed by ``lwssim.emulator.kubelet`` (UID-safe), not by a stage.
    """
    return [
        _stage(
            "pod-create",
            "Pod",
            [_NOT_DELETED, _e(".spec.nodeName", "Exists"), _e(".status.podIP", "DoesNotExist")],
            {"statusTemplate": _POD_CREATE},
        ),
        _stage(
            "pod-start",
            "Pod",
            [
                _NOT_DELETED,
                _e(".status.phase", "In", "Pending"),
                _e(".status.podIP", "Exists"),
                _e(".status.containerStatuses.[].state.waiting.reason", "Exists"),
            ],
            {"statusTemplate": _POD_START},
            delay=_delay(start_delay_s, jitter_s),
        ),
        _stage(
            "pod-ready",
            "Pod",
            [
                _NOT_DELETED,
                _e(".status.phase", "In", "Running"),
                _e(_READY, "NotIn", "True"),
                _e(".status.containerStatuses.[].state.running.startedAt", "Exists"),
            ],
            {"statusTemplate": _POD_READY},
            delay=_delay(ready_delay_s, jitter_s),
        ),
        _stage(
            "pod-complete",
            "Pod",
            [
                _NOT_DELETED,
                _e(".status.phase", "In", "Running"),
                _e(".metadata.ownerReferences.[].kind", "In", "Job"),
            ],
            {
                "statusTemplate": """{{ $now := Now }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
"""
            },
        ),
    ]


def container_failure_stage(delay_s: float = 1.0, jitter_s: float = 0.0, label: str = FAILURE_LABEL) -> Stage:
    """Containers of a Running pod labelled ``label=true`` fail once (restartCount 0 -> 1).

    Fires only while no container has a ``lastState.terminated``, i.e. once per pod.  Annotations
    ``lwssim.emulator/exit-code`` and ``lwssim.emulator/reason`` override exit code 1 / ``Error``.
    A high weight makes it win over pod-ready when both match.
    """
    return _stage(
        "pod-container-failure",
        "Pod",
        [
            _NOT_DELETED,
            _e(f'.metadata.labels["{label}"]', "In", "true"),
            _e(".status.phase", "In", "Running"),
            _e(".status.containerStatuses.[].state.running.startedAt", "Exists"),
            _e(".status.containerStatuses.[].lastState.terminated", "DoesNotExist"),
        ],
        {"statusTemplate": _CONTAINER_FAIL},
        delay=_delay(delay_s, jitter_s),
        weight=10000,
    )


def default_stages(
    start_delay_s: float = 0.0, ready_delay_s: float = 0.0, jitter_s: float = 0.0
) -> list[Stage]:
    """Every stage the emulator installs at ``up``: nodes, pod lifecycle and the container failure."""
    return [
        *node_stages(),
        *pod_stages(start_delay_s, ready_delay_s, jitter_s),
        container_failure_stage(),
    ]


def stage_crd(kwok_module_dir: Path) -> dict[str, Any]:
    """KWOK's Stage CRD, read from the kwok module source in the Go module cache."""
    path = kwok_module_dir / "kustomize" / "crd" / "bases" / "kwok.x-k8s.io_stages.yaml"
    return yaml.safe_load(path.read_text())


def apply_stages(api_client: Any, stages: list[Stage]) -> None:
    """Create or replace Stage objects by name (kwok picks up changes at run time)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.CustomObjectsApi(api_client)
    for st in stages:
        name = st["metadata"]["name"]
        try:
            cur = api.get_cluster_custom_object(STAGE_GROUP, STAGE_VERSION, STAGE_PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_cluster_custom_object(STAGE_GROUP, STAGE_VERSION, STAGE_PLURAL, st)
            continue
        body = dict(st)
        body["metadata"] = {**st["metadata"], "resourceVersion": cur["metadata"]["resourceVersion"]}
        api.replace_cluster_custom_object(STAGE_GROUP, STAGE_VERSION, STAGE_PLURAL, name, body)


def delete_stages(api_client: Any, names: list[str]) -> None:
    """Delete Stage objects by name; missing ones are ignored."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.CustomObjectsApi(api_client)
    for name in names:
        try:
            api.delete_cluster_custom_object(STAGE_GROUP, STAGE_VERSION, STAGE_PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def set_pod_timing(
    api_client: Any, start_delay_s: float, ready_delay_s: float, jitter_s: float = 0.0
) -> None:
    """Replace the pod lifecycle stages with new timing, e.g. between two scenario phases."""
    apply_stages(api_client, pod_stages(start_delay_s, ready_delay_s, jitter_s))
