"""Preflight's checks of what is installed, from API objects as plain dicts: each fail names what is
missing or short, what is wanted and what was found."""

from __future__ import annotations

from lwssim.kube import cluster_checks as K
from lwssim.kube.checks import FAIL, PASS, WARN, Check, Shortfall
from lwssim.kube.client import LWS_CRD


def _only(check: Check) -> Shortfall:
    [short] = check.shortfalls
    return short


def _deployment(name: str, image: str, ready: int, replicas: int = 1, namespace: str = "lws-system") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"readyReplicas": ready},
    }


def _webhook(kind: str, name: str, url: str | None = None) -> dict:
    config = {"url": url} if url else {"service": {"name": "lws-webhook-service"}}
    return {
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [{"clientConfig": config, "rules": [{"apiGroups": ["leaderworkerset.x-k8s.io"]}]}],
    }


def test_kubernetes_version() -> None:
    assert K.kubernetes_version("https://api", "v1.31.2", (1, 31)).status == PASS
    check = K.kubernetes_version("https://api", "v1.26.9", (1, 26))
    assert check.status == FAIL and "LWS needs 1.27+" in check.message and "1.26 is older" in check.message
    assert check.fix == "upgrade the cluster from 1.26 to 1.27 or later"
    assert (_only(check).asked, _only(check).offered) == ("1.27", "1.26")


def test_lws_crd_missing_names_the_crd_and_what_cannot_be_created() -> None:
    assert K.lws_crd(True, [], "v0.7.0").status == PASS
    check = K.lws_crd(False, ["LeaderWorkerSet/toobig"], "v0.8.0")
    assert check.status == FAIL and check.message.startswith("LeaderWorkerSet CRD not found")
    assert LWS_CRD in check.message and "LeaderWorkerSet/toobig cannot be created" in check.message
    assert "install LWS v0.8.0" in check.fix and "/download/v0.8.0/manifests.yaml" in check.fix
    assert (_only(check).constraint, _only(check).asked, _only(check).offered) == (
        "CustomResourceDefinition",
        LWS_CRD,
        None,
    )


def test_lws_webhooks_missing_one_says_which() -> None:
    mutating = _webhook("mutating", "lws-mutating-webhook-configuration")
    validating = _webhook("validating", "lws-validating-webhook-configuration")
    assert K.is_lws_webhook(mutating) and not K.is_lws_webhook({"metadata": {"name": "other"}})
    assert K.lws_webhooks([mutating, validating]).status == PASS
    check = K.lws_webhooks([mutating])
    assert check.status == FAIL
    assert check.message.startswith(
        "1 of the 2 LWS webhook configurations found (lws-mutating-webhook-configuration (mutating)); "
        "no lws-validating-webhook-configuration"
    )
    assert (_only(check).asked, _only(check).offered) == (["mutating", "validating"], ["mutating"])
    assert "0 of the 2" in K.lws_webhooks([]).message


def test_lws_controller_deployment_counts_ready_replicas() -> None:
    ok, version = K.lws_controller(
        [_deployment("lws-controller-manager", "lws:v0.8.1", 1)], [], bool, "v0.7.0"
    )
    assert ok.status == PASS and version == "v0.8.1"
    down, _ = K.lws_controller(
        [_deployment("lws-controller-manager", "lws:v0.8.1", 0, 2)], [], bool, "v0.7.0"
    )
    assert down.status == FAIL
    assert "deployment lws-system/lws-controller-manager v0.8.1: 0/2 replica(s) ready" in down.message
    assert (_only(down).asked, _only(down).offered) == (2, 0)


def test_lws_controller_webhook_endpoint() -> None:
    hooks = [_webhook("mutating", "lws-mutating-webhook-configuration", "https://127.0.0.1:9443/mutate")]
    up, version = K.lws_controller([], hooks, lambda url: True, "v0.7.0")
    assert up.status == PASS and version == "v0.7.0" and "simulating v0.7.0" in up.message
    asked: list[str] = []
    down, _ = K.lws_controller([], hooks, lambda url: asked.append(url) or False, "v0.7.0")
    assert asked == ["https://127.0.0.1:9443/mutate"]
    assert down.status == FAIL and "https://127.0.0.1:9443/mutate does not answer" in down.message
    assert _only(down).asked == "https://127.0.0.1:9443/mutate"
    none, _ = K.lws_controller([], [], bool, "v0.7.0")
    assert none.status == FAIL and "among the 0 deployment(s) in lws-system" in none.message
    in_service = [_webhook("mutating", "lws-mutating-webhook-configuration")]
    assert K.lws_controller([], in_service, bool, "v0.7.0")[0].status == WARN


def test_permissions_counts_the_denied_verbs() -> None:
    wanted = [
        "create leaderworkersets.leaderworkerset.x-k8s.io",
        "patch leaderworkersets.leaderworkerset.x-k8s.io",
    ]
    assert K.permissions("ns", [], wanted).status == PASS
    check = K.permissions("ns", wanted[1:], wanted)
    assert check.status == FAIL and "(1 of 2 verbs denied)" in check.message
    assert (_only(check).asked, _only(check).offered) == (wanted, wanted[:1])


def test_gang_scheduler_missing_or_too_old() -> None:
    deps = [_deployment("volcano-scheduler", "volcanosh/vc-scheduler:v1.11.2", 1, namespace="volcano-system")]
    old = K.gang_scheduler("llm", "volcano", deps)
    assert old.status == FAIL and old.subject == "llm" and "Volcano v1.11.2" in old.message
    assert old.fix == "upgrade Volcano from v1.11.2 to v1.12 or later"
    assert (_only(old).asked, _only(old).offered) == ("v1.12", "v1.11.2")
    deps[0]["spec"]["template"]["spec"]["containers"][0]["image"] = "volcanosh/vc-scheduler:v1.12.1"
    assert K.gang_scheduler("llm", "volcano", deps).status == PASS
    missing = K.gang_scheduler("llm", "kai", deps)
    assert (
        missing.status == FAIL and 'none of the 1 deployments is "kai" or "kai-scheduler"' in missing.message
    )
    assert _only(missing).asked == "kai"
