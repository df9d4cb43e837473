"""Kueue on the emulator, the parts that need no Go and no cluster: its wrapper module, the Configuration
merge, the CRD conversion patches and the webhook selection (on a small copy of the tag's layout)."""

from __future__ import annotations

from pathlib import Path

import yaml

from lwssim.emulator import kueue as kq


def test_user_fields_merge_over_the_defaults() -> None:
    base = kq.default_config(9443, 8081, Path("/certs"))
    user = kq.user_config(
        {
            "enabled": True,
            "kind": "Configuration",
            "waitForPodsReady": {"timeout": "15s", "requeuingStrategy": {"backoffBaseSeconds": 5}},
            "webhook": {"port": 1},
            "integrations": {"frameworks": ["pod"]},
        }
    )
    cfg = kq.merge(base, user)
    assert cfg["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert cfg["waitForPodsReady"] == {"timeout": "15s", "requeuingStrategy": {"backoffBaseSeconds": 5}}
    assert cfg["webhook"] == {"host": "127.0.0.1", "port": 1, "certDir": "/certs"}  # merged key by key
    assert cfg["integrations"]["frameworks"] == ["pod"]  # lists replace
    assert base["integrations"]["frameworks"] == [kq.LWS_FRAMEWORK, "pod"]  # base untouched
    assert base["internalCertManagement"] == {"enable": False}
    assert base["leaderElection"] == {"leaderElect": False}
    assert base["metrics"] == {"bindAddress": "0"}
    assert base["featureGates"] == {"VisibilityOnDemand": False}


def _layout(tmp_path: Path) -> Path:
    """The tag's CRD and webhook folders, cut down to what the functions read."""
    crd = tmp_path / "config/components/crd"
    (crd / "bases").mkdir(parents=True)
    (crd / "patches").mkdir()
    for name in ("workloads", "resourceflavors"):
        (crd / "bases" / f"kueue.x-k8s.io_{name}.yaml").write_text(
            yaml.safe_dump(
                {
                    "kind": "CustomResourceDefinition",
                    "metadata": {"name": f"{name}.kueue.x-k8s.io"},
                    "spec": {},
                }
            )
        )
        (crd / "patches" / f"webhook_in_{name}.yaml").write_text(
            yaml.safe_dump(
                {
                    "metadata": {"name": f"{name}.kueue.x-k8s.io"},
                    "spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {}}}},
                }
            )
        )
    (crd / "kustomization.yaml").write_text(
        "patches:\n- path: patches/webhook_in_workloads.yaml\n"
        "#- path: patches/webhook_in_resourceflavors.yaml\n"
    )
    wh = tmp_path / "config/components/webhook"
    wh.mkdir(parents=True)

    def hook(name: str, path: str) -> dict:
        return {"name": name, "clientConfig": {"service": {"name": "webhook-service", "path": path}}}

    docs = [
        {
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "mutating-webhook-configuration"},
            "webhooks": [
                hook("mdeployment.kb.io", "/mutate-apps-v1-deployment"),
                hook("mleaderworkerset.kb.io", "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset"),
                hook("mpod.kb.io", "/mutate--v1-pod"),
                hook("mworkload.kb.io", "/mutate-kueue-x-k8s-io-v1beta2-workload"),
            ],
        },
        {
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "validating-webhook-configuration"},
            "webhooks": [
                hook("vpod.kb.io", "/validate--v1-pod"),
                hook("vjob.kb.io", "/validate-batch-v1-job"),
            ],
        },
    ]
    (wh / "manifests.yaml").write_text(yaml.safe_dump_all(docs))
    selector = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
        ]
    }
    patch = {"webhooks": [{"name": "mpod.kb.io", "namespaceSelector": selector}]}
    (wh / "kustomization.yaml").write_text(yaml.safe_dump({"patches": [{"patch": yaml.safe_dump(patch)}]}))
    return tmp_path


def test_conversion_webhooks_only_where_the_kustomization_patches_them(tmp_path: Path) -> None:
    crds = {c["metadata"]["name"]: c for c in kq.crds(_layout(tmp_path), b"CA", 7000)}
    conv = crds["workloads.kueue.x-k8s.io"]["spec"]["conversion"]
    assert conv["webhook"]["clientConfig"] == {"url": "https://127.0.0.1:7000/convert", "caBundle": "Q0E="}
    assert "conversion" not in crds["resourceflavors.kueue.x-k8s.io"]["spec"]


def test_webhooks_of_kueue_kinds_and_enabled_frameworks_at_127_0_0_1(tmp_path: Path) -> None:
    docs = kq.webhook_configurations(_layout(tmp_path), b"CA", 7000, [kq.LWS_FRAMEWORK, "pod"])
    mutating, validating = docs
    assert mutating["metadata"] == {"name": "kueue-mutating-webhook-configuration"}
    assert [w["name"] for w in mutating["webhooks"]] == [
        "mleaderworkerset.kb.io",
        "mpod.kb.io",
        "mworkload.kb.io",
    ]
    assert [w["name"] for w in validating["webhooks"]] == ["vpod.kb.io"]
    pod = mutating["webhooks"][1]
    assert pod["clientConfig"] == {"url": "https://127.0.0.1:7000/mutate--v1-pod", "caBundle": "Q0E="}
    assert pod["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system"]
    assert "namespaceSelector" not in mutating["webhooks"][0]


def test_the_manager_runs_with_an_overlay_on_etc(tmp_path: Path) -> None:
    certs = tmp_path / "pki"
    certs.mkdir()
    (certs / "tls.crt").write_text("crt")
    (certs / "tls.key").write_text("key")
    etc = kq.prepare_etc(tmp_path, certs)
    assert (etc / "upper/kueue/metrics/certs/tls.crt").read_text() == "crt"
    argv = kq.wrapped_argv(etc, ["/bin/kueue", "--config=c"])
    assert argv[:4] == ["unshare", "--user", "--map-root-user", "--mount"]
    assert argv[-2:] == ["/bin/kueue", "--config=c"]
    assert f"upperdir={etc}/upper" in argv[argv.index("-c") + 1]
