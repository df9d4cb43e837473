"""The Job controller (kubernetes v1.34 ``pkg/controller/job/job_controller.go``), as far as placement
and recovery depend on it.

- Active pods (not finished, not being deleted) are kept at ``parallelism``, never more than the
  completions still missing: NonIndexed ``min(parallelism, completions − succeeded)``; without
  ``completions`` (work queue) no pod is added once one succeeded; Indexed, one pod per index that has
  neither succeeded nor an active pod, lowest first. Pods are named ``<job>-<random>`` (NonIndexed) or
  ``<job>-<index>-<random>`` (Indexed, ``podGenerateNameWithIndex``).
- A pod that fails — and, with the default ``podReplacementPolicy`` TerminatingOrFailed and no
  ``podFailurePolicy``, a pod being deleted before it succeeded, such as a preemption victim
  (``isPodFailed``) — counts as failed at once and is replaced after the pod-failure back-off:
  10 s doubling per failure since the last success, at most 10 min (``DefaultJobPodFailureBackOff``,
  ``MaxJobPodFailureBackOff``, ``getRemainingTimeForFailuresCount``).
- More failures than ``backoffLimit`` (default 6) fail the Job (BackoffLimitExceeded): its active pods
  are deleted and none is created again.
- Pod creates go in slow-start batches through the controller's client rate limit (``PodCreator``).
"""

from __future__ import annotations

from lwssim.engine.context import Cluster
from lwssim.engine.objects import SUCCEEDED, Job, Pod
from lwssim.engine.replicaset import PodCreator, active
from lwssim.engine.store import ADDED, DELETED
from lwssim.engine.workqueue import WorkQueue

CONCURRENT_SYNCS = 5  # --concurrent-job-syncs
MAX_PODS_PER_SYNC = 500  # MaxPodCreateDeletePerSync
BACKOFF_BASE = 10.0  # DefaultJobPodFailureBackOff
BACKOFF_MAX = 600.0  # MaxJobPodFailureBackOff


def failure_backoff(failures: int) -> float:
    """The wait after ``failures`` consecutive pod failures before a replacement is created."""
    if failures <= 0:
        return 0.0
    delay = BACKOFF_BASE
    for _ in range(1, failures):  # doubling until the cap, as getRemainingTimeForFailuresCount loops
        delay *= 2
        if delay >= BACKOFF_MAX:
            return BACKOFF_MAX
    return delay


class _Tracking:
    """What the controller knows of one Job's pods (its informer cache plus the status counters)."""

    def __init__(self) -> None:
        self.active: dict[int, Pod] = {}
        self.finished: set[int] = set()  # pod uids already counted as succeeded or failed
        self.succeeded_indices: set[int] = set()
        self.failures_since_success = 0
        self.last_failure = 0.0


class JobController:
    def __init__(self, cluster: Cluster, creator: PodCreator) -> None:
        self.env, self.store, self.gc = cluster.env, cluster.store, cluster.gc
        self.creator = creator
        self.queue = WorkQueue(cluster.env, self.reconcile, workers=CONCURRENT_SYNCS)
        self._jobs: dict[int, _Tracking] = {}
        self.store.watch("Job", self._on_job)
        self.store.watch("Pod", self._on_pod)

    def _on_job(self, event: str, job: Job) -> None:  # type: ignore[override]
        if event == ADDED:
            self._jobs[job.uid] = _Tracking()
        elif event == DELETED:
            self._jobs.pop(job.uid, None)
            return
        self.queue.add(job.key)

    def _on_pod(self, event: str, pod: Pod) -> None:  # type: ignore[override]
        job = pod.owner
        if not isinstance(job, Job):
            return
        track = self._jobs.get(job.uid)
        if track is None:
            return
        if event != DELETED and active(pod):
            if pod.uid not in track.active:
                track.active[pod.uid] = pod
                job.active = len(track.active)
                self.queue.add(job.key)  # addPod: observed, synced again (500 creates per sync at most)
            return
        track.active.pop(pod.uid, None)
        if pod.uid not in track.finished:
            track.finished.add(pod.uid)
            if pod.phase == SUCCEEDED:
                job.succeeded += 1
                track.failures_since_success = 0
                if pod.completion_index >= 0:
                    track.succeeded_indices.add(pod.completion_index)
            else:  # Failed, or deleted before it succeeded
                job.failed += 1
                track.failures_since_success += 1
                track.last_failure = self.env.now
        job.active = len(track.active)
        self.queue.add(job.key)

    def _wanted(self, job: Job, track: _Tracking) -> list[int]:
        """Completion indices (or -1s, NonIndexed) of the pods to create now."""
        running = len(track.active)
        if job.indexed:
            assert job.completions is not None
            taken = track.succeeded_indices | {p.completion_index for p in track.active.values()}
            free = [i for i in range(job.completions) if i not in taken]
            return free[: max(job.parallelism - running, 0)]
        if job.completions is None:
            want = job.parallelism if job.succeeded == 0 else 0
        else:
            want = min(job.parallelism, job.completions - job.succeeded)
        return [-1] * max(want - running, 0)

    def _done(self, job: Job, track: _Tracking) -> bool:
        if job.completions is None:
            return job.succeeded > 0 and not track.active
        if job.indexed:
            return len(track.succeeded_indices) >= job.completions
        return job.succeeded >= job.completions

    def reconcile(self, key: str):
        job = self.store.get("Job", key)
        if not isinstance(job, Job) or job.deleting or job.complete or job.failed_condition:
            return None
        track = self._jobs.get(job.uid)
        if track is None:
            return None
        if job.failed > job.backoff_limit:  # BackoffLimitExceeded
            job.failed_condition = True
            for pod in list(track.active.values()):
                self.gc.delete(pod)
            self.store.update(job)
            return None
        if self._done(job, track):
            job.complete = True
            self.store.update(job)
            return None
        wanted = self._wanted(job, track)[:MAX_PODS_PER_SYNC]
        if not wanted:
            return None
        wait = failure_backoff(track.failures_since_success) - (self.env.now - track.last_failure)
        if track.failures_since_success and wait > 0:
            self.queue.add_after(key, wait)
            return None
        return self.creator.create(job, [self._factory(job, i) for i in wanted])

    def _factory(self, job: Job, index: int):
        def make() -> Pod | None:
            track = self._jobs.get(job.uid)
            if track is None or job.failed_condition:
                return None
            t = job.template
            prefix = f"{job.name}-{index}-" if index >= 0 else f"{job.name}-"
            return Pod(
                kind="Pod",
                name=self.creator.name(job, prefix),
                namespace=job.namespace,
                labels=dict(t.labels),
                annotations=dict(t.annotations),
                owner=job,
                template=t,
                workload=job.workload,
                affinity=t.pod_affinity,
                anti_affinity=t.pod_anti_affinity,
                run_duration=job.run_duration,
                completion_index=index,
            )

        return make
