"""Karpenter v1.14.1 with its KWOK cloud provider on the emulator (``lwssim emulator up --with karpenter``).

The binary is ``sigs.k8s.io/karpenter/kwok`` built from ``gomod/karpenter-v1.14.1``
(``build.karpenter_tool``). What it needs at start comes from the tag's module source in the Go module
cache:

* CRDs: every file of ``kwok/charts/crds`` (NodePool, NodeClaim, NodeOverlay, CapacityBuffer: the chart's
  copies, whose NodeClaim/NodePool schemas also allow the ``karpenter.kwok.sh`` labels) and
  ``kwok/apis/crds`` (the KWOKNodeClass). In the repository
  ``kwok/charts/crds/karpenter.kwok.sh_kwoknodeclasses.yaml`` is a symlink to the latter; module zips
  leave symlinks out, so the module holds only the target.
* a ``KWOKNodeClass`` named ``default`` (its CRD defaults its status to Ready=True), which NodePools name
  in ``template.spec.nodeClassRef``;
* an instance-types file (``--instance-types-file-path``, ``kwok/options/options.go``): the provider's
  built-in list (``kwok/cloudprovider/instance_types.json``) has no GPU type.
  ``karpenter-instance-types.json`` beside this module holds one, ``gpu-8x-h100``; ``up
  --karpenter-instance-types FILE`` replaces it.

Karpenter creates each Node itself (``kwok/cloudprovider/cloudprovider.go``, ``toNode``) with the label
and the annotation ``kwok.x-k8s.io/node=fake``; the stack's KWOK manages nodes by that annotation
(``--manage-nodes-with-annotation-selector``), so they turn Ready through the same node stage as the
static nodes, and their pods through the same pod stages.

It runs outside the cluster with the stack's admin kubeconfig (``KUBECONFIG``; ``ctrl.GetConfigOrDie``),
no leader election, and in a user + network namespace of its own: its metrics and health servers bind
``:<port>``, every interface (``pkg/operator/operator.go``, ``NewOperator``), and no option narrows that.
See ``lwssim.emulator.netbridge`` for how it still reaches the API server and how its ``/readyz`` is read.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

from lwssim.emulator import build

GROUP = "karpenter.sh"
KWOK_GROUP = "karpenter.kwok.sh"
NODE_CLASS = "default"
DEFAULT_INSTANCE_TYPES = Path(__file__).with_name("karpenter-instance-types.json")
# Inside Karpenter's own network namespace nothing else listens: fixed ports are free there.
METRICS_PORT = 8080
HEALTH_PORT = 8081
NET_DIR = "karpenter-net"
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes with the NUL


def module_dir() -> Path:
    """Karpenter's module source in the Go module cache (downloaded again if missing)."""
    return build.module_dir(build.KARPENTER_MODULE, build.KARPENTER_VERSION)


def crds(kdir: Path) -> list[dict[str, Any]]:
    """The KWOK chart's CRDs and the KWOKNodeClass CRD, one per name."""
    out: dict[str, dict[str, Any]] = {}
    for folder in (kdir / "kwok" / "charts" / "crds", kdir / "kwok" / "apis" / "crds"):
        for f in sorted(folder.glob("*.yaml")):
            crd = yaml.safe_load(f.read_text())
            out.setdefault(crd["metadata"]["name"], crd)
    return list(out.values())


def node_class(name: str = NODE_CLASS, registration_delay: str | None = None) -> dict[str, Any]:
    """A KWOKNodeClass; ``registration_delay`` (e.g. ``"30s"``) delays each Node's creation after launch."""
    spec = {"nodeRegistrationDelay": registration_delay} if registration_delay else {}
    return {
        "apiVersion": f"{KWOK_GROUP}/v1alpha1",
        "kind": "KWOKNodeClass",
        "metadata": {"name": name},
        "spec": spec,
    }


def read_instance_types(path: Path) -> list[dict[str, Any]]:
    """The instance-types file, checked for the fields the provider reads (``kwok/cloudprovider/helpers.go``,
    ``InstanceTypeOptions``): a JSON list of objects with ``name``, ``resources`` and ``offerings``."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file: {exc}") from exc
    if not isinstance(doc, list) or not doc:
        raise ValueError(f"{path}: an instance-types file is a non-empty JSON list")
    for i, it in enumerate(doc):
        missing = [k for k in ("name", "resources", "offerings") if not isinstance(it, dict) or k not in it]
        if missing:
            raise ValueError(f"{path}: entry {i} lacks {', '.join(missing)}")
    return doc


def argv(
    binary: Path,
    instance_types: Path,
    batch_idle: str = "1s",
    batch_max: str = "10s",
    feature_gates: str | None = None,
) -> list[str]:
    """Karpenter's own command line (``pkg/operator/options/options.go``, ``kwok/options/options.go``)."""
    out = [
        str(binary),
        "--disable-leader-election=true",
        f"--metrics-port={METRICS_PORT}",
        f"--health-probe-port={HEALTH_PORT}",
        f"--batch-idle-duration={batch_idle}",
        f"--batch-max-duration={batch_max}",
        f"--instance-types-file-path={instance_types}",
        "--log-level=info",
    ]
    if feature_gates:
        out.append(f"--feature-gates={feature_gates}")
    return out


def net_dir(state_dir: Path) -> Path:
    """Where the bridge's sockets live; their paths must fit a unix socket address."""
    d = state_dir / NET_DIR
    longest = d / "health.sock"
    if len(str(longest)) > SOCKET_PATH_MAX:
        raise ValueError(
            f"the state folder's path is too long for a unix socket ({longest}); use a shorter --state-dir"
        )
    return d


def bridge_argv(net: Path, api_port: int) -> list[str]:
    """The outside half: Karpenter's namespace reaches the API server through ``api.sock``."""
    return [
        sys.executable,
        "-m",
        "lwssim.emulator.netbridge",
        "--forward",
        f"unix:{net / 'api.sock'}=tcp:127.0.0.1:{api_port}",
    ]


def wrapped_argv(net: Path, api_port: int, karpenter_argv: list[str], wait_s: float = 20.0) -> list[str]:
    """``karpenter_argv`` in a user + network namespace: its shell starts the inside half of the bridge, waits
    until it listens, then ``exec``s Karpenter, so the recorded PID is Karpenter's and the bridge's parent."""
    ready = net / "inside.ready"
    inside = [
        sys.executable,
        "-m",
        "lwssim.emulator.netbridge",
        "--lo-up",
        "--exit-with-parent",
        f"--ready={ready}",
        "--forward",
        f"tcp:127.0.0.1:{api_port}=unix:{net / 'api.sock'}",
        "--forward",
        f"unix:{net / 'health.sock'}=tcp:127.0.0.1:{HEALTH_PORT}",
    ]
    tries = int(wait_s / 0.05)
    script = (
        f'rm -f "{ready}"; '
        + " ".join(_q(a) for a in inside)
        + " & i=0; "
        + f'while [ ! -e "{ready}" ]; do i=$((i+1)); '
        + f'if [ $i -gt {tries} ]; then echo "netbridge did not start" >&2; exit 1; fi; sleep 0.05; done; '
        + 'exec "$@"'
    )
    return ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", script, "karpenter", *karpenter_argv]


def _q(arg: str) -> str:
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def unix_http_get(sock_path: Path, path: str, timeout: float = 3.0) -> bytes:
    """GET ``path`` over a unix socket (Karpenter's health server through the bridge)."""

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(str(sock_path))
            self.sock = s

    conn = Conn("localhost", timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().strip()
    finally:
        conn.close()
