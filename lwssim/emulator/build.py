"""Build the emulator's binaries from Go modules into a version-keyed cache folder.

Every binary comes from a Go module fetched through the Go module proxy by the ordinary ``go``
command; the wrapper modules (``gomod/<tool>/go.mod`` + ``go.sum``) pin the versions and ship with
the package.  Binaries are build outputs and live outside the repository, in
``$LWSSIM_CACHE_DIR/bin/<key>/`` (default ``~/.cache/lwssim/bin/<key>/``), built once per machine.
The key changes whenever a go.mod/go.sum or the Go toolchain changes, so a version bump rebuilds.

Each LWS release has a wrapper module of its own (``gomod/lws`` for the default v0.7.0, whose cache key
is what it always was, ``gomod/lws-<version>`` for the others) and a bin folder of its own; only the
version asked for is built, and the binaries of the other tools are hard-linked from a sibling folder
built from the same module files instead of being built again.

Kueue's manager (``gomod/kueue-v0.17.0``) is built only when asked (``--with kueue``, or ``up --with
kueue``) into a bin folder of its own, ``kueue-<version>_<go>_<hash>``: it shares no module versions with the
rest (k8s.io libraries v0.35.3, controller-runtime v0.23.3), and the stack's key stays what it was.

Karpenter with its KWOK cloud provider (``gomod/karpenter-v1.14.1``, package ``sigs.k8s.io/karpenter/kwok``)
is built the same way, only when asked (``--with karpenter``), into ``karpenter-<version>_<go>_<hash>``.

Run ``python -m lwssim.emulator.build [--lws-version vX.Y.Z] [--with kueue] [--with karpenter]`` to probe the
modules and build; it prints the bin folder (and each optional part's, one a line).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

K8S_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.7.0"
LWS_VERSION = "v0.7.0"  # the default: the controller docs/lws-v0.7-semantics.md describes
# Every LWS release the proxy serves from v0.7.0 on; v0.10.0's source zip is refused (403).
LWS_VERSIONS: tuple[str, ...] = ("v0.7.0", "v0.8.0", "v0.9.0")
LWS_MODULE = "sigs.k8s.io/lws"
KUEUE_VERSION = "v0.17.0"  # the manager docs/kueue-v0.17-semantics.md describes
KUEUE_MODULE = "sigs.k8s.io/kueue"
# Karpenter's KWOK provider (docs/autoscaling-semantics.md describes v1.14.1; v1.15.0 needs a newer Go).
KARPENTER_VERSION = "v1.14.1"
KARPENTER_MODULE = "sigs.k8s.io/karpenter"


@dataclass(frozen=True)
class Tool:
    """One wrapper module and the binaries built from it (output name -> Go package)."""

    name: str
    module: str
    version: str
    packages: dict[str, str]
    ldflags: str = "-s -w"


TOOLS: tuple[Tool, ...] = (
    Tool(
        "k8s",
        "k8s.io/kubernetes",
        K8S_VERSION,
        {
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
            "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        },
        # Without these the binaries report v0.0.0 from /version, which confuses kubectl and us.
        "-s -w"
        f" -X k8s.io/component-base/version.gitVersion={K8S_VERSION}"
        f" -X k8s.io/component-base/version.gitMajor={K8S_VERSION[1:].split('.')[0]}"
        f" -X k8s.io/component-base/version.gitMinor={K8S_VERSION.split('.')[1]}",
    ),
    Tool("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION, {"etcd": "go.etcd.io/etcd/server/v3"}),
    Tool("kwok", "sigs.k8s.io/kwok", KWOK_VERSION, {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}),
)


def lws_tool(version: str = LWS_VERSION) -> Tool:
    """The LWS controller of one release; its wrapper module is ``gomod/lws`` for the default (so the
    default's cache key is unchanged) and ``gomod/lws-<version>`` otherwise."""
    if version not in LWS_VERSIONS:
        raise BuildError(f"LWS {version} is not supported; choose one of {', '.join(LWS_VERSIONS)}")
    name = "lws" if version == LWS_VERSION else f"lws-{version}"
    # LWS's main package is .../cmd, so the binary needs an explicit name.
    return Tool(name, LWS_MODULE, version, {"lws-controller": f"{LWS_MODULE}/cmd"})


def tools(lws_version: str = LWS_VERSION) -> tuple[Tool, ...]:
    """Every tool of the stack with the given LWS release, LWS first so it builds first."""
    return (lws_tool(lws_version), *TOOLS)


def kueue_tool() -> Tool:
    """Kueue's manager from its wrapper module ``gomod/kueue-<version>`` (main package ``cmd/kueue``)."""
    return Tool(
        f"kueue-{KUEUE_VERSION}",
        KUEUE_MODULE,
        KUEUE_VERSION,
        {"kueue": f"{KUEUE_MODULE}/cmd/kueue"},
        # Without it the manager logs gitVersion v0.0.0-main (pkg/version/version.go).
        f"-s -w -X {KUEUE_MODULE}/pkg/version.GitVersion={KUEUE_VERSION}",
    )


def karpenter_tool() -> Tool:
    """Karpenter with its KWOK cloud provider, from the wrapper module ``gomod/karpenter-<version>`` (main
    package ``kwok``; binary ``karpenter-kwok``)."""
    return Tool(
        f"karpenter-{KARPENTER_VERSION}",
        KARPENTER_MODULE,
        KARPENTER_VERSION,
        {"karpenter-kwok": f"{KARPENTER_MODULE}/kwok"},
        # Without it the operator reports version "unspecified" (pkg/operator/operator.go, Version).
        f"-s -w -X {KARPENTER_MODULE}/pkg/operator.Version={KARPENTER_VERSION}",
    )


EXTRAS: dict[str, Callable[[], Tool]] = {"kueue": kueue_tool, "karpenter": karpenter_tool}

BINARIES: tuple[str, ...] = (*(b for t in TOOLS for b in t.packages), "lws-controller")


class BuildError(RuntimeError):
    """A probe or build step failed; the message says which module or command."""


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable."""
    print(f"[lwssim emulator] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """Root of lwssim's per-machine cache (outside any repository)."""
    env = os.environ.get("LWSSIM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lwssim"


def gomod_dir(tool: str) -> Path:
    """Folder of the shipped go.mod/go.sum of one tool (package data)."""
    return Path(str(resources.files("lwssim.emulator") / "gomod" / tool))


def go_env() -> dict[str, str]:
    """Environment for every go call: static binaries, no toolchain switching, no go.mod edits."""
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = "-mod=readonly -buildvcs=false"
    return env


def go_version() -> str:
    """The installed Go toolchain's version (e.g. go1.26.8); raises if go is missing."""
    if shutil.which("go") is None:
        raise BuildError("the `go` command is not on PATH; install Go >= 1.26 to build the emulator")
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, env=go_env())
    if out.returncode != 0:
        raise BuildError(f"`go env GOVERSION` failed: {out.stderr.strip()}")
    return out.stdout.strip()


def versions_key(lws_version: str = LWS_VERSION) -> str:
    """Key naming the bin folder: versions plus a hash of the module files and the toolchain."""
    h = hashlib.sha256()
    # Hashed in the order k8s, etcd, kwok, lws, as before there were several LWS releases: the
    # default's key, and so every existing cache, stays valid.
    for tool in (*TOOLS, lws_tool(lws_version)):
        for fname in ("go.mod", "go.sum"):
            h.update((gomod_dir(tool.name) / fname).read_bytes())
    gov = go_version()
    h.update(gov.encode())
    versions = f"k8s-{K8S_VERSION}_etcd-{ETCD_VERSION}_kwok-{KWOK_VERSION}_lws-{lws_version}"
    return f"{versions}_{gov}_{h.hexdigest()[:10]}"


def bin_dir(lws_version: str = LWS_VERSION) -> Path:
    """The folder the binaries of the current versions live in (may not exist yet)."""
    return cache_root() / "bin" / versions_key(lws_version)


def is_built(path: Path | None = None, lws_version: str = LWS_VERSION) -> bool:
    """True when every binary is present in the bin folder and the build finished."""
    path = path or bin_dir(lws_version)
    return (path / "BUILD.json").is_file() and all((path / b).is_file() for b in BINARIES)


def tool_stamp(tool: Tool, go_ver: str) -> str:
    """What a tool's binaries are made from: its module files and the toolchain (recorded in BUILD.json)."""
    h = hashlib.sha256(go_ver.encode())
    for fname in ("go.mod", "go.sum"):
        h.update((gomod_dir(tool.name) / fname).read_bytes())
    return h.hexdigest()[:16]


def _built_stamps(folder: Path, go_ver: str) -> dict[str, str]:
    """Tool stamps of a finished bin folder: from its BUILD.json, or, for a folder built before stamps
    were recorded, from its name when that is the default key (which hashes the same module files)."""
    try:
        recorded = json.loads((folder / "BUILD.json").read_text()).get("tools")
    except (OSError, json.JSONDecodeError):
        return {}
    if isinstance(recorded, dict):
        return recorded
    if folder.name == versions_key():
        return {t.name: tool_stamp(t, go_ver) for t in tools()}
    return {}


def _reuse(tool: Tool, go_ver: str, dest: Path) -> bool:
    """Hard-link (or copy) a tool's binaries from a sibling bin folder built from the same module files."""
    stamp = tool_stamp(tool, go_ver)
    root = cache_root() / "bin"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder == dest or folder.name.endswith(".partial") or not is_built(folder):
            continue
        if _built_stamps(folder, go_ver).get(tool.name) != stamp:
            continue
        for binary in tool.packages:
            target = dest / binary
            target.unlink(missing_ok=True)
            try:
                os.link(folder / binary, target)
            except OSError:
                shutil.copy2(folder / binary, target)
        log(f"reused {tool.name} from {folder.name}")
        return True
    return False


def gomodcache() -> Path:
    """The Go module cache (where the LWS and KWOK CRD YAML files are read from)."""
    out = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, env=go_env())
    return Path(out.stdout.strip())


def module_dir(module: str, version: str) -> Path:
    """Extracted source of a module version in the module cache, downloading it if missing."""
    # Module paths in the cache escape upper-case letters; ours are all lower-case.
    path = gomodcache() / f"{module}@{version}"
    if not path.is_dir():
        if module == LWS_MODULE:
            tool = lws_tool(version)
        elif module == KUEUE_MODULE:
            tool = kueue_tool()
        elif module == KARPENTER_MODULE:
            tool = karpenter_tool()
        else:
            tool = next(t for t in TOOLS if t.module == module)
        _run(["go", "mod", "download", f"{module}@{version}"], cwd=_workdir(tool), what=f"download {module}")
    return path


def _workdir(tool: Tool) -> Path:
    """Writable copy of a wrapper module (the package folder may be read-only once installed)."""
    work = cache_root() / "gomod" / tool.name
    work.mkdir(parents=True, exist_ok=True)
    for fname in ("go.mod", "go.sum"):
        src = (gomod_dir(tool.name) / fname).read_bytes()
        dst = work / fname
        if not dst.is_file() or dst.read_bytes() != src:
            dst.write_bytes(src)
    return work


def _run(cmd: list[str], cwd: Path, what: str, heartbeat_s: float = 30.0) -> None:
    """Run a go command, printing elapsed time every ``heartbeat_s``; raise with its output on failure."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    while proc.poll() is None:
        try:
            proc.wait(timeout=heartbeat_s)
        except subprocess.TimeoutExpired:
            log(f"  {what}: still running ({time.monotonic() - t0:.0f}s)")
    th.join()
    if proc.returncode != 0:
        tail = "\n".join(lines[-40:])
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def probe(lws_version: str = LWS_VERSION, with_kueue: bool = False, extras: tuple[str, ...] = ()) -> None:
    """``go mod download`` every wrapper module; on failure name exactly which module is not served."""
    wanted = (*(("kueue",) if with_kueue else ()), *extras)
    for tool in (*tools(lws_version), *(EXTRAS[e]() for e in dict.fromkeys(wanted))):
        probe_tool(tool)


def probe_tool(tool: Tool) -> None:
    """``go mod download`` one wrapper module's main module and then its whole graph."""
    work = _workdir(tool)
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{tool.module}@{tool.version}"],
        cwd=work,
        env=go_env(),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        m = re.search(r'"Error":\s*"([^"]*)"', out.stdout)
        why = m.group(1) if m else out.stderr.strip()
        raise BuildError(f"module {tool.module}@{tool.version} is not served: {why}")
    # The whole dependency graph must be served too, or the build fails later.
    out = subprocess.run(["go", "mod", "download"], cwd=work, env=go_env(), capture_output=True, text=True)
    if out.returncode != 0:
        raise BuildError(f"dependencies of {tool.module}@{tool.version} not served: {out.stderr.strip()}")
    log(f"probe ok: {tool.module}@{tool.version}")


@contextlib.contextmanager
def _lock(path: Path):  # type: ignore[no-untyped-def]
    """Exclusive file lock so two concurrent builds (CLI + tests) don't race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def go_build(tool: Tool, dest: Path) -> float:
    """``go build`` one tool's binaries into ``dest``; returns the seconds it took."""
    t0 = time.monotonic()
    log(f"go build {tool.module}@{tool.version} -> {', '.join(tool.packages)}")
    pkgs = list(tool.packages.values())
    for binary in tool.packages:
        # It may be a hard link into a sibling folder (an interrupted build's reuse): writing
        # through it would change that folder's binary too.
        (dest / binary).unlink(missing_ok=True)
    # Several packages: their basenames equal the binary names, so `-o DIR/` names them right.
    single = str(dest / next(iter(tool.packages)))
    out = [single] if len(pkgs) == 1 else [str(dest) + "/"]
    cmd = ["go", "build", "-p", "2", "-ldflags", tool.ldflags, "-o", *out, *pkgs]
    _run(cmd, cwd=_workdir(tool), what=f"build {tool.name}")
    took = round(time.monotonic() - t0, 1)
    log(f"  built {tool.name} in {took:.0f}s")
    return took


def _finish(
    partial: Path, target: Path, go_ver: str, built: tuple[Tool, ...], timings: dict[str, float], total: float
) -> Path:
    """Record BUILD.json in the finished ``partial`` folder and move it to ``target``."""
    (partial / "BUILD.json").write_text(
        json.dumps(
            {
                "go": go_ver,
                "versions": {t.module: t.version for t in built},
                "tools": {t.name: tool_stamp(t, go_ver) for t in built},
                "seconds": timings,
                "total_seconds": round(total, 1),
            },
            indent=2,
        )
    )
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    log(f"build complete: {target}")
    return target


def ensure_built(force: bool = False, lws_version: str = LWS_VERSION) -> Path:
    """Return the bin folder of the stack with this LWS release, building every missing binary first
    (progress on stderr). Tools a sibling folder already holds, from the same module files, are linked."""
    stack_tools = tools(lws_version)
    target = bin_dir(lws_version)
    if is_built(target) and not force:
        return target
    with _lock(cache_root() / "bin" / ".build.lock"):
        if is_built(target) and not force:
            return target
        go_ver = go_version()
        log(f"building emulator binaries into {target} ({go_ver}); a cold build takes 30-60 min on 2 cores")
        probe(lws_version)
        partial = target.with_name(target.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        t_all = time.monotonic()
        for tool in stack_tools:
            if not force and all((partial / b).is_file() for b in tool.packages):
                continue
            if not force and _reuse(tool, go_ver, partial):
                continue
            timings[tool.name] = go_build(tool, partial)
        return _finish(partial, target, go_ver, stack_tools, timings, time.monotonic() - t_all)


def extra_bin_dir(tool: Tool) -> Path:
    """An optional part's bin folder: ``<tool>_<go>_<hash of its go.mod/go.sum>`` beside the stack's."""
    gov = go_version()
    return cache_root() / "bin" / f"{tool.name}_{gov}_{tool_stamp(tool, gov)[:10]}"


def extra_is_built(tool: Tool, path: Path | None = None) -> bool:
    path = path or extra_bin_dir(tool)
    return (path / "BUILD.json").is_file() and all((path / b).is_file() for b in tool.packages)


def ensure_extra_built(tool: Tool, force: bool = False) -> Path:
    """Return an optional part's bin folder, building its binary first if missing (progress on stderr)."""
    target = extra_bin_dir(tool)
    if extra_is_built(tool, target) and not force:
        return target
    with _lock(cache_root() / "bin" / ".build.lock"):
        if extra_is_built(tool, target) and not force:
            return target
        go_ver = go_version()
        log(f"building {tool.module}@{tool.version} into {target} ({go_ver})")
        probe_tool(tool)
        partial = target.with_name(target.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        took = go_build(tool, partial)
        return _finish(partial, target, go_ver, (tool,), {tool.name: took}, took)


def kueue_bin_dir() -> Path:
    """Kueue's bin folder: ``kueue-<version>_<go>_<hash of its go.mod/go.sum>`` beside the stack's."""
    return extra_bin_dir(kueue_tool())


def kueue_is_built(path: Path | None = None) -> bool:
    return extra_is_built(kueue_tool(), path)


def ensure_kueue_built(force: bool = False) -> Path:
    """Return Kueue's bin folder, building the manager first if it is missing (progress on stderr)."""
    return ensure_extra_built(kueue_tool(), force)


def karpenter_bin_dir() -> Path:
    """Karpenter's bin folder: ``karpenter-<version>_<go>_<hash>``; nothing shared with the other builds."""
    return extra_bin_dir(karpenter_tool())


def ensure_karpenter_built(force: bool = False) -> Path:
    """Return Karpenter's bin folder (binary ``karpenter-kwok``), building it first if missing."""
    return ensure_extra_built(karpenter_tool(), force)


def main(argv: list[str] | None = None) -> int:
    """CLI: probe the modules, build if needed, print the bin folder on stdout."""
    ap = argparse.ArgumentParser(prog="python -m lwssim.emulator.build", description=__doc__)
    ap.add_argument("--probe-only", action="store_true", help="only check that every module is served")
    ap.add_argument("--force", action="store_true", help="rebuild even if the binaries exist")
    ap.add_argument(
        "--lws-version",
        choices=LWS_VERSIONS,
        default=LWS_VERSION,
        help=f"the LWS release whose controller is built (default {LWS_VERSION})",
    )
    ap.add_argument(
        "--with",
        dest="extras",
        action="append",
        choices=tuple(EXTRAS),
        default=[],
        help=f"also build an optional part, each into its own bin folder: kueue (Kueue {KUEUE_VERSION}'s "
        f"manager), karpenter (Karpenter {KARPENTER_VERSION} with its KWOK provider). Repeatable",
    )
    args = ap.parse_args(argv)
    extras = tuple(dict.fromkeys(args.extras))
    try:
        if args.probe_only:
            probe(args.lws_version, extras=extras)
            return 0
        print(ensure_built(force=args.force, lws_version=args.lws_version))
        for extra in extras:
            print(ensure_extra_built(EXTRAS[extra](), force=args.force))
    except BuildError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
