"""The emulator's build cache per LWS release: the default key stays what it was, each release has its
wrapper module, and a second release reuses the binaries of the tools it shares (no Go build runs here)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from lwssim.emulator import build

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="the keys include `go env GOVERSION`")


def test_default_key_is_the_one_caches_were_built_under() -> None:
    """The hash over k8s, etcd, kwok and lws (in that order) and the Go version, as before releases."""
    h = hashlib.sha256()
    for name in ("k8s", "etcd", "kwok", "lws"):
        for fname in ("go.mod", "go.sum"):
            h.update((build.gomod_dir(name) / fname).read_bytes())
    gov = build.go_version()
    h.update(gov.encode())
    want = f"k8s-v1.34.4_etcd-v3.6.16_kwok-v0.7.0_lws-v0.7.0_{gov}_{h.hexdigest()[:10]}"
    assert build.versions_key() == build.versions_key(build.LWS_VERSION) == want


@pytest.mark.parametrize("version", build.LWS_VERSIONS)
def test_each_release_has_a_wrapper_module_of_its_own(version: str) -> None:
    tool = build.lws_tool(version)
    gomod = (build.gomod_dir(tool.name) / "go.mod").read_text()
    assert f"sigs.k8s.io/lws {version} " in gomod
    assert "tool sigs.k8s.io/lws/cmd" in gomod
    assert f"lws-{version}_" in build.versions_key(version)
    assert [t.name for t in build.tools(version)][1:] == ["k8s", "etcd", "kwok"]


def test_an_unsupported_release_is_refused() -> None:
    with pytest.raises(build.BuildError, match="v0.10.0"):
        build.lws_tool("v0.10.0")


def _fake_built(folder: Path, tools: dict[str, str] | None) -> None:
    folder.mkdir(parents=True)
    for binary in build.BINARIES:
        (folder / binary).write_text(f"{folder.name}/{binary}")
    (folder / "BUILD.json").write_text(json.dumps({} if tools is None else {"tools": tools}))


def test_shared_tools_are_linked_from_a_sibling_built_from_the_same_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LWSSIM_CACHE_DIR", str(tmp_path))
    gov = build.go_version()
    k8s, etcd, kwok = build.TOOLS
    # A folder built before stamps were recorded counts by its name: the default key.
    _fake_built(tmp_path / "bin" / build.versions_key(), None)
    # Another one claims other module files for etcd: it is never used for etcd.
    _fake_built(tmp_path / "bin" / "aaa-other", {"etcd": "0" * 16})
    dest = tmp_path / "bin" / "target.partial"
    dest.mkdir()
    assert build._reuse(k8s, gov, dest)
    assert (dest / "kube-apiserver").read_text() == f"{build.versions_key()}/kube-apiserver"
    assert build._reuse(etcd, gov, dest)
    assert (dest / "etcd").read_text() == f"{build.versions_key()}/etcd"
    # The v0.9.0 controller is nowhere yet: it must be built.
    assert not build._reuse(build.lws_tool("v0.9.0"), gov, dest)
    assert build._built_stamps(tmp_path / "bin" / build.versions_key(), gov)["kwok"] == build.tool_stamp(
        kwok, gov
    )


@pytest.mark.parametrize(
    ("extra", "module", "package", "go", "ldflag"),
    [
        (
            "kueue",
            "sigs.k8s.io/kueue v0.17.0",
            "sigs.k8s.io/kueue/cmd/kueue",
            "1.25.0",
            "pkg/version.GitVersion=v0.17.0",
        ),
        (
            "karpenter",
            "sigs.k8s.io/karpenter v1.14.1",
            "sigs.k8s.io/karpenter/kwok",
            "1.26.6",
            "pkg/operator.Version=v1.14.1",
        ),
    ],
)
def test_each_extra_wrapper_module_pins_its_release(
    extra: str, module: str, package: str, go: str, ldflag: str
) -> None:
    """``--with kueue`` and ``--with karpenter`` build from wrapper modules of their own, pinned to the
    release each agreement test was measured on, with the tag's own go directive and version stamp."""
    tool = build.EXTRAS[extra]()
    gomod = (build.gomod_dir(tool.name) / "go.mod").read_text()
    assert f"{module} " in gomod
    assert f"tool {package}" in gomod
    assert f"\ngo {go}\n" in gomod
    assert list(tool.packages.values()) == [package]
    assert ldflag in tool.ldflags
    # Not part of the stack: the stack's tools (and so its cache key) are unchanged.
    assert all(t.module != module.split()[0] for t in build.tools())
