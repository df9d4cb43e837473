"""Karpenter on the emulator, the parts that need no Go and no cluster: its wrapper module, the CRD files it
reads (on a small copy of the module's layout), the instance-types file, the command lines, and the bridges
that let it run in a network namespace of its own (here between two plain sockets)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from lwssim.emulator import karpenter as kp
from lwssim.emulator import netbridge
from lwssim.emulator.cli import emulator


def test_crds_from_the_chart_and_the_node_class_from_the_apis_folder(tmp_path: Path) -> None:
    charts, apis = tmp_path / "kwok/charts/crds", tmp_path / "kwok/apis/crds"
    charts.mkdir(parents=True)
    apis.mkdir(parents=True)
    for folder, name in ((charts, "nodepools.karpenter.sh"), (charts, "nodeclaims.karpenter.sh")):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({"metadata": {"name": name}}))
    (apis / "k.yaml").write_text(yaml.safe_dump({"metadata": {"name": "kwoknodeclasses.karpenter.kwok.sh"}}))
    names = [c["metadata"]["name"] for c in kp.crds(tmp_path)]
    assert sorted(names) == [
        "kwoknodeclasses.karpenter.kwok.sh",
        "nodeclaims.karpenter.sh",
        "nodepools.karpenter.sh",
    ]


def test_the_bundled_instance_type_has_eight_gpus(tmp_path: Path) -> None:
    types = kp.read_instance_types(kp.DEFAULT_INSTANCE_TYPES)
    assert [t["name"] for t in types] == ["gpu-8x-h100"]
    assert types[0]["resources"]["nvidia.com/gpu"] == "8"
    reqs = {r["key"]: r["values"] for r in types[0]["offerings"][0]["Requirements"]}
    assert reqs == {
        "karpenter.sh/capacity-type": ["on-demand"],
        "topology.kubernetes.io/zone": ["test-zone-a"],
    }
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x"}]))
    with pytest.raises(ValueError, match="lacks resources, offerings"):
        kp.read_instance_types(bad)


def test_command_lines(tmp_path: Path) -> None:
    argv = kp.argv(Path("/bin/k"), Path("/t.json"), "2s", "20s", "NodeRepair=true")
    assert "--disable-leader-election=true" in argv
    assert "--instance-types-file-path=/t.json" in argv
    assert "--batch-idle-duration=2s" in argv and "--batch-max-duration=20s" in argv
    assert "--feature-gates=NodeRepair=true" in argv
    net = kp.net_dir(tmp_path)
    wrapped = kp.wrapped_argv(net, 6443, argv)
    assert wrapped[:5] == ["unshare", "--user", "--map-root-user", "--net", "sh"]
    assert wrapped[-len(argv) :] == argv  # exec'd by the namespace's shell: the recorded PID is Karpenter's
    script = wrapped[6]
    assert f"tcp:127.0.0.1:6443=unix:{net / 'api.sock'}" in script
    assert f"unix:{net / 'health.sock'}=tcp:127.0.0.1:{kp.HEALTH_PORT}" in script
    assert script.rstrip().endswith('exec "$@"')
    assert kp.bridge_argv(net, 6443)[-1] == f"unix:{net / 'api.sock'}=tcp:127.0.0.1:6443"
    with pytest.raises(ValueError, match="too long"):
        kp.net_dir(tmp_path / ("x" * 120))


def test_endpoints() -> None:
    assert netbridge.parse_endpoint("tcp:127.0.0.1:80") == ("tcp", "127.0.0.1", 80)
    assert netbridge.parse_endpoint("unix:/a/b.sock") == ("unix", "/a/b.sock", 0)
    for bad in ("tcp:80", "udp:1.2.3.4:5", "unix:"):
        with pytest.raises(ValueError):
            netbridge.parse_endpoint(bad)


def test_the_bridges_carry_bytes_both_ways(tmp_path: Path) -> None:
    """tcp -> unix -> tcp, as Karpenter's namespace reaches the API server (both halves in this namespace)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    target = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            data = conn.recv(100)
            conn.sendall(data.upper())

    threading.Thread(target=echo, daemon=True).start()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    front = probe.getsockname()[1]
    probe.close()
    sock, ready = tmp_path / "api.sock", tmp_path / "ready"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lwssim.emulator.netbridge",
                "--forward",
                f"unix:{sock}=tcp:127.0.0.1:{target}",
            ]
        ),
    ]
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lwssim.emulator.netbridge",
                    f"--ready={ready}",
                    "--forward",
                    f"tcp:127.0.0.1:{front}=unix:{sock}",
                ]
            )
        )
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", front), timeout=10) as c:
            c.sendall(b"hello")
            assert c.recv(100) == b"HELLO"
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        server.close()


def test_karpenter_options_need_the_part() -> None:
    res = CliRunner().invoke(emulator, ["up", "--karpenter-registration-delay", "5s"])
    assert res.exit_code == 2 and "need --with karpenter" in res.output
    res = CliRunner().invoke(emulator, ["up", "--with", "karpenter", "--karpenter-batch", "1s"])
    assert res.exit_code == 2 and "IDLE,MAX" in res.output
