"""`lwssim plan --cluster-queue`: the smallest nominal quota of a Kueue ClusterQueue meeting the targets, on
the search, runs and Dask machinery of node plans (lwssim/plan/dimension.py), and every refusal."""

from __future__ import annotations

import functools
import io
import json
import pickle
import re
from pathlib import Path

import pytest
from support import GPU, assert_input_contract, load, lws, run_cli, write_scenario
from test_kueue_engine import cluster_queue, doc, flavor, local_queue, queued

from lwssim.analysis.report import to_json
from lwssim.plan import ClusterQueueQuota, PoolNodes, Targets, cluster_queue_quota, plan, search
from lwssim.plan.variants import with_quota
from lwssim.render.plan import render_plan_markdown, render_plan_table

RANDOM_TIMING = {
    "imagePull": {"cold": {"uniform": {"min": "5s", "max": "40s"}}},
    "containerStart": "0s",
    "modelLoad": {"uniform": {"min": "10s", "max": "60s"}},
    "termination": "0s",
}


def kueue_doc(*objects: dict, replicas: int = 3, gpus: int = 32, nodes: int = 6, **kw) -> dict:
    """LWS llm (``replicas`` groups of 2 pods × 8 GPUs) queued through lq to ClusterQueue cq of ``gpus``."""
    workloads = [flavor(), cluster_queue(gpus=gpus), local_queue(), queued(lws(replicas=replicas))]
    return doc([*workloads, *objects], nodes=nodes, horizon="30m", **kw)


def write(tmp_path: Path, d: dict, name: str = "kq") -> str:
    d["metadata"]["name"] = name
    return str(write_scenario(tmp_path, d, f"{name}.yaml"))


def quota_plan(d: dict, **options) -> dict:
    s = load(d)
    return plan(s, cluster_queue_quota(s, "cq"), jobs=1, **options)


# -- the search -----------------------------------------------------------------------------------------


def test_three_groups_of_sixteen_gpus_need_a_quota_of_48():
    d = quota_plan(kueue_doc(), runs=3, targets=Targets(time_to_serving=600.0))
    assert d["dimension"] == "clusterQueueQuota" and d["recommendedQuota"] == 48
    assert (d["clusterQueue"], d["resource"], d["flavor"]) == ("cq", GPU, "gpu")
    assert (d["quotaStep"], d["currentQuota"], d["range"]) == (16, 32, {"min": 16, "max": 48})
    assert d["evaluated"] == [16, 32, 48]  # from one group, a group at a time, up to every group at once
    assert [c["quota"] for c in d["candidates"]] == [16, 32, 48]
    assert [c["meetsTargets"] for c in d["candidates"]] == [False, False, True]
    assert "pool" not in d and "recommendedCount" not in d and "count" not in d["candidates"][0]
    assert {c["costPerHour"] for c in d["candidates"]} == {None} and d["recommendedCostPerHour"] is None
    assert d["bindingConstraint"].startswith(
        "quota: a quota of 32 nvidia.com/gpu in flavor gpu of ClusterQueue cq admits 2 groups of 16 "
        "nvidia.com/gpu at once; in 1 of 1 runs group 2 of llm waits for admission: ClusterQueue cq has 0 of "
        "32 nvidia.com/gpu free"
    )
    assert (
        "insufficient unused quota for nvidia.com/gpu in flavor gpu, 16 more needed" in d["bindingConstraint"]
    )
    assert d["explainedRun"]["quota"] == 32 and d["explanations"][0]["kind"] == "WaitingForAdmission"


def test_fewer_replicas_needed_later_a_smaller_quota_serves_but_late():
    """Scaled from 3 to 2 groups at 2m: a quota of 32 has every group serving then; only the time target
    asks for the third group's quota."""
    d = kueue_doc(events=[{"at": "2m", "scale": {"workload": "llm", "replicas": 2}}])
    loose = quota_plan(d, runs=2)
    assert loose["recommendedQuota"] == 32 and loose["range"]["max"] == 48  # the most groups at once: 3
    assert loose["candidates"][1]["timeToAllServingSeconds"]["p50"] == 120.0
    strict = quota_plan(d, runs=2, targets=Targets(time_to_serving=90.0))
    assert strict["recommendedQuota"] == 48
    assert strict["bindingConstraint"].startswith("time to all serving p95 2m00s > 1m30s with a quota of 32")


def test_a_leader_template_counts_in_the_group_request():
    leader = {"containers": [{"name": "l", "image": "i", "resources": {"limits": {GPU: "4"}}}]}
    d = doc(
        [flavor(), cluster_queue(gpus=0), local_queue(), queued(lws(replicas=2, size=3, leader=leader))],
        nodes=6,
        horizon="30m",
    )
    result = quota_plan(d, runs=1)
    assert result["quotaStep"] == 20 and result["recommendedQuota"] == 40  # 4 + 2 × 8 per group


def test_groups_of_different_sizes_step_by_the_smallest_and_say_so():
    small = queued(lws("small", replicas=1, size=1))  # 8 GPUs a group
    result = quota_plan(kueue_doc(small, replicas=1), runs=1)
    assert result["quotaStep"] == 8 and result["range"] == {"min": 8, "max": 24}
    assert result["recommendedQuota"] == 24
    assert any("quotas step by the smallest, 8" in n for n in result["notes"])


def test_min_and_max_are_rounded_to_whole_groups():
    result = quota_plan(kueue_doc(), runs=1, lo=20, hi=60)
    assert result["range"] == {"min": 32, "max": 48} and result["evaluated"][0] == 32
    assert result["notes"][:2] == [
        "--min 20 nvidia.com/gpu rounded up to whole groups: 32 nvidia.com/gpu",
        "--max 60 nvidia.com/gpu rounded down to whole groups: 48 nvidia.com/gpu",
    ]
    below = quota_plan(kueue_doc(), runs=1, lo=4)
    assert below["range"]["min"] == 16
    assert (
        below["notes"][0]
        == "--min 4 nvidia.com/gpu is below what one group needs: starting at 16 nvidia.com/gpu"
    )


def test_the_default_max_covers_scale_ups_and_a_rollouts_surge():
    up = load(kueue_doc(replicas=1, events=[{"at": "1m", "scale": {"workload": "llm", "replicas": 3}}]))
    assert cluster_queue_quota(up, "cq").span(up, None, None).stop == 48
    rev = {"leaderWorkerTemplate": {"workerTemplate": {"metadata": {"annotations": {"rev": "2"}}}}}
    d = kueue_doc(replicas=2, events=[{"at": "1m", "patch": {"workload": "llm", "spec": rev}}])
    d["spec"]["workloads"][3]["manifest"]["spec"]["rolloutStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 1},
    }
    rolled = load(d)
    assert cluster_queue_quota(rolled, "cq").span(rolled, None, None).stop == 48  # 2 groups and 1 surge


def test_a_max_below_one_group_simulates_nothing():
    result = quota_plan(kueue_doc(), runs=1, hi=8)
    assert result["recommendedQuota"] is None and result["candidates"] == []
    assert result["bindingConstraint"] == (
        "quota: a quota below 16 nvidia.com/gpu can never admit a group: one group of llm requests "
        "16 nvidia.com/gpu; --max 8 nvidia.com/gpu is below it"
    )


@pytest.mark.parametrize("lent, needed", [(16, 32), (64, 0)])
def test_a_cohort_may_lend_so_the_search_starts_at_zero(lent, needed):
    d = kueue_doc(cluster_queue("lender", gpus=lent, cohortName="c"))
    d["spec"]["workloads"][1]["manifest"]["spec"]["cohortName"] = "c"
    result = quota_plan(d, runs=1)
    assert result["resourceLowerBound"] == 0 and result["evaluated"][0] == 0
    assert result["recommendedQuota"] == needed  # what the lender's quota leaves to admit
    borrow = "groups may be admitted below one group's quota: ClusterQueue cq may borrow from cohort c"
    assert result["notes"] == [borrow]
    if needed == 0:
        assert result["bindingConstraint"] == (
            "quota: a quota of 0 nvidia.com/gpu meets the targets: groups may be admitted without this "
            "quota: ClusterQueue cq may borrow from cohort c"
        )


def test_with_quota_replaces_one_nominal_and_caps_the_lending_limit():
    d = kueue_doc(cluster_queue("other", gpus=8))
    d["spec"]["workloads"][1]["manifest"]["spec"].update(cohortName="c")
    d["spec"]["workloads"][1]["manifest"]["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0][
        "lendingLimit"
    ] = 24
    s = load(d)
    v = with_quota(s, "cq", "gpu", GPU, 16)
    (quota,) = v.kueue.cluster_queue("cq").resource_groups[0].flavors[0].resources
    assert (quota.nominal, quota.lending_limit) == (16, 16)
    assert v.kueue.cluster_queue("other") == s.kueue.cluster_queue("other")
    assert v.workloads == s.workloads and v.cluster == s.cluster


# -- determinism and where the runs are computed -----------------------------------------------------------


def random_doc() -> dict:
    d = kueue_doc(events=[{"at": "2m", "scale": {"workload": "llm", "replicas": 2}}])
    d["spec"]["timing"] = RANDOM_TIMING
    return d


OPTIONS = dict(runs=12, targets=Targets(time_to_serving=100.0, quantile=0.5), beyond=1)


def test_same_bytes_twice_and_whatever_the_number_of_workers(tmp_path):
    path = write(tmp_path, random_doc())
    args = ["plan", path, "--cluster-queue", "cq", "--runs", "12", "--target-time-to-serving", "100s"]
    args += ["--quantile", "0.5", "-o", "json"]
    one = run_cli([*args, "--jobs", "1"], seconds=120)
    again = run_cli([*args, "--jobs", "1"], seconds=120)
    two = run_cli([*args, "--jobs", "2"], seconds=120)
    assert one.code == 0, one.stderr
    assert one.stdout == again.stdout == two.stdout
    result = json.loads(one.stdout)
    last = result["candidates"][-1]["timeToAllServingSeconds"]
    assert last["p50"] < last["p95"] < 120.0  # the runs differ: the comparison has something to compare
    assert result["recommendedQuota"] == 48 and result["candidates"][1]["rejectedBy"] == "timeToServing"


def test_plan_on_dask_is_the_local_plan():
    distributed = pytest.importorskip("distributed")
    from lwssim.plan.dask_runs import DaskRunner

    s = load(random_doc())
    dimension = cluster_queue_quota(s, "cq")
    local = plan(s, dimension, jobs=1, **OPTIONS)
    with (
        distributed.LocalCluster(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0"
        ) as c,
        distributed.Client(c, set_as_default=False) as client,
    ):
        remote = plan(s, dimension, open_runs=functools.partial(DaskRunner, client), **OPTIONS)
    assert to_json(remote) == to_json(local) and local["recommendedQuota"] == 48


def test_dimensions_pickle_small_and_pools_keep_their_plan():
    s = load(kueue_doc())
    dimension = cluster_queue_quota(s, "cq")
    assert pickle.loads(pickle.dumps(dimension)) == dimension == ClusterQueueQuota("cq", "gpu", GPU)
    assert len(pickle.dumps(dimension)) < 1000
    pool = search(s, "gpu", runs=1, jobs=1, beyond=0)
    assert pool.dimension == PoolNodes("gpu") and pool.recommended is None  # quota 32 leaves a group out


# -- the command and its refusals -----------------------------------------------------------------------


def test_cli_table_markdown_and_exit_codes(tmp_path):
    path = write(tmp_path, kueue_doc())
    out = run_cli(["plan", path, "--cluster-queue", "cq", "--runs", "2", "--jobs", "1"], seconds=60)
    assert out.code == 0, out.stderr
    assert (
        "Recommended: a nominal quota of 48 nvidia.com/gpu in flavor gpu of ClusterQueue cq (3 groups of 16; "
        "the scenario has 32)." in out.stdout
    )
    assert "Quota" in out.stdout and "Cost/h" not in out.stdout
    assert "a quota of 32 nvidia.com/gpu: fails (placement) after 1 runs" in out.stderr
    md = run_cli(["plan", path, "--cluster-queue", "cq", "--runs", "2", "--jobs", "1", "-o", "markdown"])
    assert "## Capacity plan · kq · ClusterQueue cq · nvidia.com/gpu in flavor gpu" in md.stdout
    assert "| Quota (nvidia.com/gpu) | Places | Runs |" in md.stdout and "| 48 ← | yes |" in md.stdout
    none = run_cli(["plan", path, "--cluster-queue", "cq", "--runs", "1", "--jobs", "1", "--max", "32"])
    assert none.code == 1
    assert (
        "No nominal quota of nvidia.com/gpu in flavor gpu of ClusterQueue cq in 16..32 meets" in none.stdout
    )
    assert "(no quota in 16..32 nvidia.com/gpu meets the targets)" in " ".join(none.stdout.split())
    html = run_cli(["plan", path, "--cluster-queue", "cq", "--runs", "1", "--jobs", "1", "-o", "html"])
    assert html.code == 0 and "Availability against quota" in html.stdout


def test_renderers_take_a_quota_plan_without_a_pool():
    result = quota_plan(kueue_doc(), runs=1)
    table = io.StringIO()
    render_plan_table(result, file=table, width=100)
    assert re.search(r"^  16 +no +1 +0\.0000", table.getvalue(), re.M) and "Cost" not in table.getvalue()
    text = render_plan_markdown(result)
    assert "| 16 | no | 1 | 0.0000 |" in text and "Cost" not in text


def test_node_plans_say_their_dimension():
    s = load(kueue_doc(gpus=48))
    result = plan(s, "gpu", runs=1, jobs=1, beyond=0)
    assert result["dimension"] == "poolNodes" and result["recommendedCount"] == 6
    assert "recommendedQuota" not in result and "quota" not in result["candidates"][0]


NOT_ENABLED = {"enabled": False}
NO_LWS = {"integrations": {"frameworks": ["batch/job"]}}


@pytest.mark.parametrize(
    "objects, kueue, args, field, message",
    [
        ((), None, ["--pool", "gpu", "--cluster-queue", "cq"], None, "give exactly one of --pool"),
        ((), None, [], None, "give exactly one of --pool (size a node pool) and --cluster-queue"),
        (
            (),
            None,
            ["--pool", "gpu", "--flavor", "gpu"],
            None,
            "--flavor go with --cluster-queue, not --pool",
        ),
        ((), None, ["--pool", "gpu", "--max", "200001"], None, "Invalid value for '--max': 200001 is not in"),
        ((), NOT_ENABLED, ["--cluster-queue", "cq"], "--cluster-queue", "Kueue is not enabled"),
        ((), NO_LWS, ["--cluster-queue", "cq"], "--cluster-queue", "Kueue does not manage LeaderWorkerSets"),
        (
            (),
            None,
            ["--cluster-queue", "nope"],
            "--cluster-queue",
            'no ClusterQueue named "nope" (ClusterQueues: cq)',
        ),
        (
            (cluster_queue("idle"), local_queue("idle-lq", "idle")),
            None,
            ["--cluster-queue", "idle"],
            "--cluster-queue",
            "no LeaderWorkerSet of the scenario is queued to ClusterQueue idle (the "
            "kueue.x-k8s.io/queue-name label naming a LocalQueue of it; its LocalQueues: default/idle-lq)",
        ),
        (
            (),
            None,
            ["--cluster-queue", "cq", "--resource", "cpu"],
            "--resource",
            "ClusterQueue cq has no quota for cpu",
        ),
        (
            (),
            None,
            ["--cluster-queue", "cq", "--flavor", "a100"],
            "--flavor",
            'no flavor "a100" for nvidia.com/gpu',
        ),
    ],
)
def test_refusals_exit_2_with_one_line(tmp_path, objects, kueue, args, field, message):
    d = kueue_doc(*objects, kueue=kueue)
    path = write(tmp_path, d)
    out = run_cli(["plan", path, *args, "--runs", "1", "--jobs", "1"])
    assert_input_contract(out)
    assert out.code == 2
    (line,) = [x for x in out.stderr.splitlines() if x.startswith("error:")]
    assert message in line, line
    if field:
        assert line.startswith(f"error: {path}: {field}: ")


def test_several_flavors_need_one_named(tmp_path):
    d = kueue_doc(flavor("spare"))
    cq = d["spec"]["workloads"][1]["manifest"]["spec"]["resourceGroups"][0]
    cq["flavors"].append({"name": "spare", "resources": [{"name": GPU, "nominalQuota": 8}]})
    path = write(tmp_path, d)
    out = run_cli(["plan", path, "--cluster-queue", "cq", "--runs", "1", "--jobs", "1"])
    assert_input_contract(out)
    assert out.code == 2 and out.stderr == (
        f"error: {path}: --flavor: ClusterQueue cq has nvidia.com/gpu in flavors gpu, spare: name one with "
        "--flavor\n"
    )
    named = run_cli(["plan", path, "--cluster-queue", "cq", "--flavor", "gpu", "--runs", "1", "-o", "json"])
    result = json.loads(named.stdout)
    assert named.code == 0 and result["flavor"] == "gpu" and result["resourceLowerBound"] == 0
    assert (
        "groups may be admitted below one group's quota: ClusterQueue cq also has nvidia.com/gpu in "
        "flavor spare" in result["notes"]
    )


def test_groups_that_request_none_of_the_resource_are_refused(tmp_path):
    d = doc([flavor(), cluster_queue(), local_queue(), queued(lws(replicas=1, gpus=0))], nodes=2)
    path = write(tmp_path, d)
    out = run_cli(["plan", path, "--cluster-queue", "cq"])
    assert_input_contract(out)
    assert out.code == 2 and "no group queued to ClusterQueue cq requests nvidia.com/gpu (llm)" in out.stderr
