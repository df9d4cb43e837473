"""Kubelet restarts and LWS restart policies (issue 4 items 3-4). Sources: restart policies,
kubernetes-sigs/lws v0.7.0 pkg/controllers/pod_controller.go:201-239; CrashLoopBackOff (10 s doubling
to 300 s, reset after 10 min), the kubelet of kubernetes/kubernetes v1.34.4 (backOffPeriod,
MaxContainerBackOff); the 60 × 10 s probe budget, kserve/kserve config/llmisvc/
config-llm-worker-data-parallel.yaml."""

from __future__ import annotations

from support import recs as records
from support import simulate as run

from lwssim.engine.kubelet import BACKOFF_MAX

CRASH_WORKER = {"faults": {"scripted": [{"at": "1h", "podCrash": "llm-0-1"}]}}


def test_worker_crash_recreates_group_under_RecreateGroupOnPodRestart__ref_3_8(tmp_path):
    _, tl, report = run(tmp_path, CRASH_WORKER)
    [restart] = records(tl, "ContainerRestarted", "llm-0-1")
    assert restart.get("restartCount") == 1
    [recreated] = records(tl, "GroupRecreated")
    assert recreated.t == 3600.0 and recreated.subject == "llm-0" and recreated.get("trigger") == "llm-0-1"
    # foreground: the new leader only after every pod of the old group is gone (30 s grace)
    deleted = [r.t for r in tl.records if r.kind == "PodDeleted" and r.t >= 3600]
    created = [r.t for r in tl.records if r.kind == "PodCreated" and r.subject == "llm-0" and r.t >= 3600]
    assert created[0] >= max(deleted[:2]) and 3630.0 < max(deleted[:2]) < 3631.0
    assert report["workloads"][0]["groupRecreations"] == 1
    assert report["workloads"][0]["groupsServing"] == 2


def test_worker_crash_only_restarts_its_container_under_None__ref_3_8(tmp_path):
    _, tl, report = run(tmp_path, CRASH_WORKER, {"leaderWorkerTemplate": {"restartPolicy": "None"}})
    assert records(tl, "GroupRecreated") == []
    assert not [r for r in tl.records if r.kind == "PodDeleting" and r.t >= 3600]
    ready = [r.t for r in records(tl, "PodReady", "llm-0-1")]
    assert ready[-1] == 3600.0 + 2 + 60  # immediate first restart, start, model load
    assert report["workloads"][0]["groupsServing"] == 2


def test_leader_deletion_recreates_group_under_None_too__ref_3_8_ownerref_cascade(tmp_path):
    spec = {"faults": {"scripted": [{"at": "1h", "podDelete": "llm-0"}]}}
    _, tl, report = run(tmp_path, spec, {"leaderWorkerTemplate": {"restartPolicy": "None"}})
    deleting = {r.subject for r in tl.records if r.kind == "PodDeleting" and r.t >= 3600}
    assert deleting == {"llm-0", "llm-0-1"}
    assert report["workloads"][0]["groupRecreations"] == 1
    assert report["workloads"][0]["groupsServing"] == 2


def test_background_leader_delete_recreates_twice_on_v07__ref_lws804(tmp_path):
    spec = {"faults": {"scripted": [{"at": "1h", "podDelete": "llm-0"}]}}
    _, tl, report = run(tmp_path, spec)
    created = [r for r in records(tl, "PodCreated", "llm-0") if r.t >= 3600]
    assert len(created) == 2  # the StatefulSet's replacement is itself deleted by the pod reconciler
    assert report["workloads"][0]["groupRecreations"] == 2


def test_background_leader_delete_recreates_once_on_v09__ref_lws805(tmp_path):
    spec = {
        "controller": {"lwsVersion": "v0.9.0"},
        "faults": {"scripted": [{"at": "1h", "podDelete": "llm-0"}]},
    }
    _, tl, report = run(tmp_path, spec)
    assert len([r for r in records(tl, "PodCreated", "llm-0") if r.t >= 3600]) == 1
    assert report["workloads"][0]["groupRecreations"] == 1


def test_crashloop_backoff_immediate_then_10s_doubling_capped_300__ref_kubelet_backoff(tmp_path):
    crashes = [{"at": f"{3600 + 70 * k}s", "podCrash": "llm-0-1"} for k in range(8)]
    _, tl, _ = run(
        tmp_path, {"faults": {"scripted": crashes}}, {"leaderWorkerTemplate": {"restartPolicy": "None"}}
    )
    restarts = records(tl, "ContainerRestarted", "llm-0-1")
    started = [r.t for r in records(tl, "ContainersStarted", "llm-0-1") if r.t >= 3600]
    # a crash only counts while the container runs: back-offs 0, 10, 20, 40, 80, 160, 300
    delays = []
    for r in restarts:
        nxt = next(t for t in started if t > r.t)
        delays.append(round(nxt - r.t - 2, 6))  # minus containerStart
    assert delays[:3] == [0.0, 10.0, 20.0]
    assert all(b <= BACKOFF_MAX for b in delays)
    assert [r.get("restartCount") for r in restarts] == list(range(1, len(restarts) + 1))


def test_backoff_resets_after_ten_minutes_running__ref_kubelet_backoff_reset(tmp_path):
    crashes = [
        {"at": "1h", "podCrash": "llm-0-1"},
        {"at": "3603s", "podCrash": "llm-0-1"},
        {"at": "2h", "podCrash": "llm-0-1"},
    ]
    _, tl, _ = run(
        tmp_path, {"faults": {"scripted": crashes}}, {"leaderWorkerTemplate": {"restartPolicy": "None"}}
    )
    restarts = [r.t for r in records(tl, "ContainerRestarted", "llm-0-1")]
    started = [r.t for r in records(tl, "ContainersStarted", "llm-0-1") if r.t >= 3600]
    assert restarts == [3600.0, 3603.0, 7200.0]
    assert started == [3602.0, 3603.0 + 10 + 2, 7202.0]  # 0 s, 10 s, then reset: 0 s again


STARTUP_PROBE = {
    "leaderWorkerTemplate": {
        "leaderTemplate": {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "vllm",
                        "resources": {"limits": {"nvidia.com/gpu": 8}},
                        "startupProbe": {
                            "httpGet": {"port": 8000},
                            "periodSeconds": 10,
                            "failureThreshold": 60,
                        },
                    }
                ]
            }
        }
    }
}


def test_startup_probe_budget_600s_restarts_slow_leader_and_loops__ref_5_kserve_probe(tmp_path):
    _, tl, report = run(tmp_path, {"timing": {"modelLoad": "15m"}}, STARTUP_PROBE)
    restarts = [r for r in records(tl, "ContainerRestarted") if r.role == "leader"]
    assert restarts and all(r.get("reason") == "StartupProbeFailed" for r in restarts)
    started = records(tl, "ContainersStarted", "llm-0")[0].t
    assert records(tl, "ContainerRestarted", "llm-0")[0].t == started + 600.0
    w = report["workloads"][0]
    assert w["groupsServing"] == 0 and w["timeToAllServingSeconds"] is None
    loops = w["recreationLoops"]
    assert loops and loops[0]["ongoing"] and loops[0]["recreations"] >= 3


def test_startup_probe_budget_long_enough_lets_the_group_serve__ref_5_kserve_probe(tmp_path):
    _, tl, report = run(tmp_path, {"timing": {"modelLoad": "9m"}}, STARTUP_PROBE)
    assert records(tl, "ContainerRestarted") == []
    assert report["workloads"][0]["groupsServing"] == 2
    assert report["workloads"][0]["recreationLoops"] == []


def test_recreate_group_after_start_waits_for_pending_pods__ref_lws726(tmp_path):
    spec = {
        "controller": {"lwsVersion": "v0.9.0"},
        "cluster": {"nodePools": [{"name": "h100", "count": 3, "capacity": {"nvidia.com/gpu": 8}}]},
        "faults": {"scripted": [{"at": "1h", "podCrash": "llm-0"}, {"at": "1h", "podCrash": "llm-1"}]},
    }
    _, tl, _ = run(tmp_path, spec, {"leaderWorkerTemplate": {"restartPolicy": "RecreateGroupAfterStart"}})
    # 3 nodes for 4 pods: one group's worker is Pending at 1h (which one, the API latencies decide), so
    # its leader's restart does not recreate it then; the restartCount stays > 0, and once the worker got
    # a node (freed by the other group's recreation) the next reconcile of the leader recreates it.
    at_crash = [r.group for r in records(tl, "GroupRecreated") if r.t == 3600.0]
    assert len(at_crash) == 1
    waiting = 1 - at_crash[0]
    worker_bound = [r.t for r in records(tl, "PodScheduled", f"llm-{waiting}-1")]
    later = [r.t for r in records(tl, "GroupRecreated") if r.group == waiting]
    assert later and later[0] > worker_bound[-1] > 3600.0
