"""Start, check and stop the emulated cluster: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok and the LWS controller, all on 127.0.0.1, no containers.

Every process is started in its own session with its log in ``<state>/logs`` and recorded (PID and
kernel start time, so a recycled PID is never signalled) in ``<state>/state.json`` as soon as it
starts.  ``down`` stops exactly those PIDs and removes the state folder.  The state folder defaults
to ``~/.cache/lwssim/emulator`` (``$LWSSIM_EMULATOR_DIR`` or ``state_dir=`` override it, which the
e2e tests use so they never collide with a user's emulator).

Safety: every listener binds 127.0.0.1 on a free port; the fake nodes' InternalIP is 127.0.0.1 where
nothing listens on the kubelet port; pod IPs (10.244.x, written by kwok) and the Service range
(10.0.0.x) only appear inside objects and are never dialled: no kube-proxy, no kubelet, no
Service-based webhooks (the LWS webhooks use ``clientConfig.url`` on 127.0.0.1).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lwssim.emulator import audit, build, certs, nodes, stages
from lwssim.emulator import karpenter as kp
from lwssim.emulator import kueue as kq

ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "lwssim-kubelet",
    "lws-controller",
    "kueue",
    "karpenter-bridge",
    "karpenter",
)
LWS_GROUP = "leaderworkerset.x-k8s.io"


class EmulatorError(RuntimeError):
    """The stack could not be brought up (the message names the component and its log)."""


class AlreadyRunning(EmulatorError):
    """An emulator recorded in the same state folder still runs."""


def log(msg: str) -> None:
    """Progress on stderr; stdout is reserved for the result."""
    print(f"[lwssim emulator] {msg}", file=sys.stderr, flush=True)


def default_state_dir() -> Path:
    """Where the running emulator's state lives unless told otherwise."""
    env = os.environ.get("LWSSIM_EMULATOR_DIR")
    return Path(env).expanduser() if env else build.cache_root() / "emulator"


@dataclass
class Proc:
    """One started process, identified by PID and its kernel start time."""

    name: str
    pid: int
    start_ticks: int
    log: str
    argv: list[str]


@dataclass
class Options:
    """What ``up`` builds: node pool, pod timing and how long to wait."""

    node_spec: nodes.NodeSpec = field(default_factory=nodes.NodeSpec)
    start_delay_s: float = 0.0
    ready_delay_s: float = 0.0
    jitter_s: float = 0.0
    termination_s: float = 0.0
    timeout_s: float = 180.0
    node_monitor_grace_period: str = "40s"
    lws_version: str = build.LWS_VERSION  # which release's controller, CRDs and webhooks run
    kueue: bool = False  # also run Kueue's manager (lwssim/emulator/kueue.py)
    kueue_config: dict[str, Any] = field(default_factory=dict)  # Configuration fields over the defaults
    karpenter: bool = False  # also run Karpenter with its KWOK provider (lwssim/emulator/karpenter.py)
    karpenter_instance_types: Path | None = None  # None: the bundled GPU type (karpenter-instance-types.json)
    karpenter_batch_idle: str = "1s"  # --batch-idle-duration (Karpenter's default)
    karpenter_batch_max: str = "10s"  # --batch-max-duration (Karpenter's default)
    karpenter_feature_gates: str | None = None  # --feature-gates; None: Karpenter's defaults
    karpenter_registration_delay: str | None = None  # the KWOKNodeClass's nodeRegistrationDelay


def _proc_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time since boot), or None when the PID is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces; fields after the closing paren are plain.
    rest = raw[raw.rfind(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return int(rest[19])


def alive(p: Proc) -> bool:
    """True while the recorded process (same PID *and* same start time) still runs."""
    return _proc_start_ticks(p.pid) == p.start_ticks


def rss_bytes(p: Proc) -> int:
    """Resident set size of a running process (0 if gone)."""
    if not alive(p):
        return 0
    try:
        for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    procs: list[Proc] | None = None,
    interval_s: float = 0.5,
) -> None:
    """Poll ``check`` until true; fail early when a watched process died."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        for p in procs or []:
            if not alive(p):
                raise EmulatorError(f"{p.name} exited while waiting for {what}; log: {p.log}\n{_tail(p.log)}")
        try:
            if check():
                return
        except Exception as exc:  # readiness probes fail in many ways until ready
            last_exc = exc
        time.sleep(interval_s)
    raise EmulatorError(f"timed out after {timeout_s:.0f}s waiting for {what} (last error: {last_exc})")


def _tail(path: str, n: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


class Stack:
    """The emulated cluster recorded in one state folder."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.dir = (state_dir or default_state_dir()).resolve()
        self.state_file = self.dir / "state.json"
        self.kubeconfig = self.dir / "kubeconfig"
        self.procs: list[Proc] = []
        self.info: dict[str, Any] = {}

    # ---- state -----------------------------------------------------------------------------
    def load(self) -> bool:
        """Read state.json; False when there is none."""
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        self.procs = [Proc(**p) for p in data.get("processes", [])]
        self.info = data.get("info", {})
        return True

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"info": self.info, "processes": [asdict(p) for p in self.procs]}, indent=2)
        )
        tmp.replace(self.state_file)

    def running(self) -> list[Proc]:
        """Recorded processes that still run."""
        return [p for p in self.procs if alive(p)]

    def status(self) -> dict[str, Any]:
        """What runs: each component's PID, liveness and RSS, plus the kubeconfig path."""
        if not self.load():
            return {"running": False, "state_dir": str(self.dir), "components": []}
        comps = [
            {
                "name": p.name,
                "pid": p.pid,
                "alive": alive(p),
                "rss_mb": round(rss_bytes(p) / 2**20, 1),
                "log": p.log,
            }
            for p in self.procs
        ]
        up = bool(comps) and all(c["alive"] for c in comps)
        return {
            "running": up,
            "partial": (not up) and any(c["alive"] for c in comps),
            "state_dir": str(self.dir),
            "kubeconfig": str(self.kubeconfig),
            "rss_mb_total": round(sum(c["rss_mb"] for c in comps), 1),
            "components": comps,
            **{k: v for k, v in self.info.items() if k not in ("kubeconfig",)},
        }

    # ---- processes -------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        logf = logs / f"{name}.log"
        # Everything the stack dials is on 127.0.0.1: never route it through a proxy.
        env = {**(env or os.environ), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        with open(logf, "ab") as fh:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=self.dir,
            )
        ticks = None
        for _ in range(50):
            ticks = _proc_start_ticks(popen.pid)
            if ticks is not None:
                break
            time.sleep(0.01)
        if ticks is None:
            raise EmulatorError(f"{name} exited at once; log: {logf}\n{_tail(str(logf))}")
        p = Proc(name=name, pid=popen.pid, start_ticks=ticks, log=str(logf), argv=argv)
        self.procs.append(p)
        self._save()  # recorded before anything else can fail, so `down` always finds it
        log(f"started {name} (pid {p.pid})")
        return p

    def down(self, remove_state: bool = True, grace_s: float = 10.0) -> list[str]:
        """Stop every recorded process by PID (TERM, then KILL), then remove the state folder."""
        self.load()
        stopped = []
        by_order = sorted(self.procs, key=lambda p: -ORDER.index(p.name) if p.name in ORDER else 0)
        for p in by_order:
            if alive(p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
                stopped.append(p.name)
        deadline = time.monotonic() + grace_s
        for p in by_order:
            _await_exit(p, deadline)
        if remove_state and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        self.procs = []
        return stopped

    @staticmethod
    def _reap(p: Proc) -> None:
        """Collect the exit status when the process is our own child (tests run up() in-process)."""
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(p.pid, os.WNOHANG)

    # ---- bring-up --------------------------------------------------------------------------
    def up(self, opts: Options | None = None) -> dict[str, Any]:
        """Build if needed, start every component, create nodes, wait until ready; returns info.

        On any failure (or SIGINT/SIGTERM) everything started so far is stopped again.
        """
        opts = opts or Options()
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.dir.parent / f".{self.dir.name}.lock", "w")  # noqa: SIM115 - held until return
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise AlreadyRunning(f"another `up` is starting an emulator in {self.dir}") from None
        try:
            return self._up_locked(opts)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    def _up_locked(self, opts: Options) -> dict[str, Any]:
        if self.load():
            live = self.running()
            if live:
                raise AlreadyRunning(
                    f"an emulator already runs from {self.dir} (pids {', '.join(str(p.pid) for p in live)}); "
                    "run `lwssim emulator down` first"
                )
            log(f"removing stale state in {self.dir}")
            self.down()
        t_build = time.monotonic()
        bins = build.ensure_built(lws_version=opts.lws_version)
        kueue_bins = build.ensure_kueue_built() if opts.kueue else None
        karpenter_bins = build.ensure_karpenter_built() if opts.karpenter else None
        build_s = time.monotonic() - t_build
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs = []
        self.info = {
            "state_dir": str(self.dir),
            "bin_dir": str(bins),
            "lws_version": opts.lws_version,
            "pid_of_up": os.getpid(),
        }
        if kueue_bins is not None:
            self.info.update({"kueue_version": build.KUEUE_VERSION, "kueue_bin_dir": str(kueue_bins)})
        if karpenter_bins is not None:
            self.info.update(
                {"karpenter_version": build.KARPENTER_VERSION, "karpenter_bin_dir": str(karpenter_bins)}
            )
        self._save()
        t0 = time.monotonic()
        with _cleanup_on_failure(self):
            self._bring_up(bins, opts)
        self.info.update(
            {
                "kubeconfig": str(self.kubeconfig),
                "ready": True,
                "start_seconds": round(time.monotonic() - t0, 1),
                "build_seconds": round(build_s, 1),
                "kubectl": str(bins / "kubectl"),
            }
        )
        self.info.pop("pid_of_up", None)
        self._save()
        return {"kubeconfig": str(self.kubeconfig), **self.info}

    def api_client(self) -> Any:
        """A kubernetes ApiClient for the emulator's admin kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def _bring_up(self, bins: Path, opts: Options) -> None:
        pki = certs.make_pki(self.dir / "pki")
        etcd_c, etcd_p, api_p, kcm_p, sch_p, wh_p, lws_h = _free_ports(7)
        self.info["ports"] = {
            "etcd": etcd_c,
            "etcd_peer": etcd_p,
            "apiserver": api_p,
            "kube_controller_manager": kcm_p,
            "kube_scheduler": sch_p,
            "lws_webhook": wh_p,
            "lws_health": lws_h,
        }
        server = f"https://127.0.0.1:{api_p}"
        self.info["server"] = server
        self.kubeconfig.write_text(_kubeconfig(server, pki))
        self.kubeconfig.chmod(0o600)
        kc = str(self.kubeconfig)

        etcd = self._start(
            "etcd",
            [
                str(bins / "etcd"),
                "--name=default",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_c}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_c}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_p}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_p}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_p}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=4294967296",
            ],
        )
        _wait(
            "etcd /health",
            lambda: b'"health":"true"' in _http_get(f"http://127.0.0.1:{etcd_c}/health"),
            30,
            [etcd],
        )

        apiserver = self._start(
            "kube-apiserver",
            [
                str(bins / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_c}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_p}",
                f"--tls-cert-file={pki.apiserver_crt}",
                f"--tls-private-key-file={pki.apiserver_key}",
                f"--client-ca-file={pki.ca_crt}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                *audit.apiserver_flags(self.dir),
                "--v=1",
            ],
        )
        ctx = _client_ssl(pki)
        _wait(
            "kube-apiserver /readyz",
            lambda: _http_get(f"{server}/readyz", ctx) == b"ok",
            opts.timeout_s,
            [etcd, apiserver],
        )
        log("kube-apiserver ready")

        kcm = self._start(
            "kube-controller-manager",
            [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={kc}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_p}",
                f"--root-ca-file={pki.ca_crt}",
                f"--service-account-private-key-file={pki.sa_key}",
                "--use-service-account-credentials=false",
                "--controllers=*",
                f"--node-monitor-grace-period={opts.node_monitor_grace_period}",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--profiling=false",
                "--v=1",
            ],
        )
        sched = self._start(
            "kube-scheduler",
            [
                str(bins / "kube-scheduler"),
                f"--kubeconfig={kc}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sch_p}",
                "--profiling=false",
                "--v=1",
            ],
        )

        api = self.api_client()
        kwok_dir = build.module_dir("sigs.k8s.io/kwok", build.KWOK_VERSION)
        lws_dir = build.module_dir(build.LWS_MODULE, opts.lws_version)
        # Every CRD the release ships: from v0.9 its controller also watches DisaggregatedSets and
        # cannot start without their CRD (cmd/main.go at v0.9.0 sets up that reconciler too).
        lws_crds = [
            yaml.safe_load(f.read_text()) for f in sorted((lws_dir / "config/crd/bases").glob("*.yaml"))
        ]
        _install_crds(api, [stages.stage_crd(kwok_dir), *lws_crds], "CRDs")
        stages.apply_stages(api, stages.default_stages(opts.start_delay_s, opts.ready_delay_s, opts.jitter_s))

        # kwok loads ~/.kwok/kwok.yaml when present: give it an empty HOME of its own.
        kwok_home = self.dir / "kwok-home"
        kwok_home.mkdir(exist_ok=True)
        kwok = self._start(
            "kwok",
            [
                str(bins / "kwok"),
                f"--kubeconfig={kc}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={nodes.KWOK_ANNOTATION}=fake",
                "--node-ip=127.0.0.1",
                "--cidr=10.244.0.0/16",
                "--enable-crds=Stage",
                # Renewed every quarter of this (2 s): a repaired node's Lease is taken back that soon.
                # kube-controller-manager judges node health by renewals against its own grace period.
                "--node-lease-duration-seconds=8",
            ],
            env={**os.environ, "HOME": str(kwok_home)},
        )
        # What KWOK cannot do as a kubelet would: UID-safe pod deletions and a truly absent kubelet.
        kubelet = self._start(
            "lwssim-kubelet",
            [
                sys.executable,
                "-m",
                "lwssim.emulator.kubelet",
                f"--kubeconfig={kc}",
                f"--termination-seconds={opts.termination_s}",
            ],
        )
        names = nodes.create_nodes(api, opts.node_spec)
        self.info["nodes"] = names
        log(f"created {len(names)} fake GPU nodes")

        self._install_webhooks(api, lws_dir, pki, wh_p)
        lws_cfg = self.dir / "lws-config.yaml"
        lws_cfg.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "config.lws.x-k8s.io/v1alpha1",
                    "kind": "Configuration",
                    "leaderElection": {"leaderElect": False},
                    "internalCertManagement": {"enable": False},
                    "webhook": {"host": "127.0.0.1", "port": wh_p, "certDir": str(pki.webhook_dir)},
                    "metrics": {"bindAddress": "0"},
                    "health": {"healthProbeBindAddress": f"127.0.0.1:{lws_h}"},
                }
            )
        )
        lws = self._start(
            "lws-controller",
            [
                str(bins / "lws-controller"),
                f"--config={lws_cfg}",
                f"--kubeconfig={kc}",
                "--zap-devel=false",
            ],
            env={**os.environ, "KUBECONFIG": kc},
        )

        every = [etcd, apiserver, kcm, sched, kwok, kubelet, lws]
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        _wait(
            "kube-controller-manager /healthz",
            lambda: _http_get(f"https://127.0.0.1:{kcm_p}/healthz", insecure) == b"ok",
            opts.timeout_s,
            every,
        )
        _wait(
            "kube-scheduler /healthz",
            lambda: _http_get(f"https://127.0.0.1:{sch_p}/healthz", insecure) == b"ok",
            opts.timeout_s,
            every,
        )
        _wait(
            "LWS controller /readyz",
            lambda: _http_get(f"http://127.0.0.1:{lws_h}/readyz") == b"ok",
            opts.timeout_s,
            every,
        )
        _wait("LWS webhooks (dry-run create)", lambda: _lws_dry_run(api), opts.timeout_s, every)
        _wait(f"{len(names)} nodes Ready", lambda: _nodes_ready(api, names), opts.timeout_s, every)
        _wait("default ServiceAccount", lambda: _default_sa(api), opts.timeout_s, every)
        if opts.kueue:
            self.start_kueue(opts.kueue_config, opts.timeout_s, api=api)
        if opts.karpenter:
            self.start_karpenter(opts, api=api)
        log("emulator ready")

    # ---- Karpenter ------------------------------------------------------------------------
    def start_karpenter(self, opts: Options, api: Any = None) -> Proc:
        """Install Karpenter's CRDs and the KWOKNodeClass ``default``, start the bridge and Karpenter in its
        own network namespace; returns once its ``/readyz`` answers ok (caches synced, CRDs mapped)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        api = api or self.api_client()
        why = _namespaces_work("net")
        if why is not None:
            raise EmulatorError(
                "Karpenter binds its metrics and health servers on every interface, so the emulator runs it "
                f"in a network namespace of its own, and {why}"
            )
        try:
            net = kp.net_dir(self.dir)
            types = kp.read_instance_types(opts.karpenter_instance_types or kp.DEFAULT_INSTANCE_TYPES)
        except ValueError as exc:
            raise EmulatorError(str(exc)) from exc
        t0 = time.monotonic()
        _install_crds(api, kp.crds(kp.module_dir()), "Karpenter CRDs")
        body = kp.node_class(registration_delay=opts.karpenter_registration_delay)
        with contextlib.suppress(ApiException):
            client.CustomObjectsApi(api).create_cluster_custom_object(
                kp.KWOK_GROUP, "v1alpha1", "kwoknodeclasses", body
            )
        types_path = self.dir / "karpenter-instance-types.json"
        types_path.write_text(json.dumps(types, indent=2))
        net.mkdir(parents=True, exist_ok=True)
        bins = Path(self.info.get("karpenter_bin_dir") or build.ensure_karpenter_built())
        self.info.update(
            {
                "karpenter_version": build.KARPENTER_VERSION,
                "karpenter_bin_dir": str(bins),
                "karpenter_instance_types": str(types_path),
                "karpenter_node_class": kp.NODE_CLASS,
            }
        )
        api_port = self.info["ports"]["apiserver"]
        # The bridges are this package's code: run the same copy of it, whatever the folder they start in.
        root = str(Path(kp.__file__).resolve().parents[2])
        path = os.pathsep.join(x for x in (root, os.environ.get("PYTHONPATH")) if x)
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONPATH": path}
        bridge = self._start("karpenter-bridge", kp.bridge_argv(net, api_port), env=env)
        _wait("Karpenter bridge socket", lambda: (net / "api.sock").is_socket(), 20, [bridge])
        argv = kp.argv(
            bins / "karpenter-kwok",
            types_path,
            opts.karpenter_batch_idle,
            opts.karpenter_batch_max,
            opts.karpenter_feature_gates,
        )
        proc = self._start("karpenter", kp.wrapped_argv(net, api_port, argv), env=env)
        _wait(
            "Karpenter /readyz",
            lambda: kp.unix_http_get(net / "health.sock", "/readyz") == b"ok",
            opts.timeout_s,
            [bridge, proc],
        )
        self._save()
        log(f"Karpenter {build.KARPENTER_VERSION} (KWOK provider) ready in {time.monotonic() - t0:.1f}s")
        return proc

    # ---- Kueue ----------------------------------------------------------------------------
    def kueue_config(self, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Configuration Kueue runs with: the defaults with ``user``'s fields merged over them."""
        ports = self.info["ports"]
        base = kq.default_config(ports["kueue_webhook"], ports["kueue_health"], self.dir / "pki" / "webhook")
        return kq.merge(base, kq.user_config(user))

    def start_kueue(
        self, user: dict[str, Any] | None = None, timeout_s: float = 120.0, api: Any = None
    ) -> Proc:
        """Install Kueue's CRDs and webhooks (again) and start its manager with ``user``'s Configuration
        fields over the defaults; returns once it is ready (``/readyz``, a dry-run LWS via its webhook)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        api = api or self.api_client()
        ports = self.info.setdefault("ports", {})
        if "kueue_webhook" not in ports:
            ports["kueue_webhook"], ports["kueue_health"] = _free_ports(2)
        cfg = self.kueue_config(user)
        pki_dir = self.dir / "pki"
        ca = (pki_dir / "ca.crt").read_bytes()
        kdir = kq.module_dir()
        _install_crds(api, kq.crds(kdir, ca, ports["kueue_webhook"]), "Kueue CRDs")
        with contextlib.suppress(ApiException):
            client.CoreV1Api(api).create_namespace({"metadata": {"name": kq.NAMESPACE}})
        frameworks = list((cfg.get("integrations") or {}).get("frameworks") or [])
        for doc in kq.webhook_configurations(kdir, ca, ports["kueue_webhook"], frameworks):
            _replace_webhook_configuration(api, doc)
        cfg_path = self.dir / "kueue-config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.info["kueue_config"] = str(cfg_path)
        bins = Path(self.info.get("kueue_bin_dir") or build.ensure_kueue_built())
        self.info["kueue_bin_dir"] = str(bins)
        self.info["kueue_version"] = build.KUEUE_VERSION
        argv = [
            str(bins / "kueue"),
            f"--config={cfg_path}",
            f"--kubeconfig={self.kubeconfig}",
            "--zap-devel=false",
        ]
        why = _namespaces_work("mount")
        if why is None:
            argv = kq.wrapped_argv(kq.prepare_etc(self.dir, pki_dir / "webhook"), argv)
        elif not Path(kq.METRICS_CERT_DIR, "tls.crt").is_file():
            raise EmulatorError(
                f"Kueue's manager reads {kq.METRICS_CERT_DIR}/tls.crt at start and it is missing; the "
                f"overlay the emulator puts there needs a user namespace, and {why}"
            )
        proc = self._start("kueue", argv, env={**os.environ, "KUBECONFIG": str(self.kubeconfig)})
        every = [proc]
        health = ports["kueue_health"]
        _wait(
            "Kueue /readyz", lambda: _http_get(f"http://127.0.0.1:{health}/readyz") == b"ok", timeout_s, every
        )
        _wait(
            "Kueue webhooks (dry-run LWS)", lambda: _lws_dry_run(api, queue="lwssim-probe"), timeout_s, every
        )
        self._save()
        log(f"Kueue {build.KUEUE_VERSION} ready")
        return proc

    def stop_kueue(self, grace_s: float = 10.0) -> bool:
        """Stop only Kueue's manager (by its recorded PID); False when none ran."""
        self.load()
        found = [p for p in self.procs if p.name == "kueue"]
        for p in found:
            _stop(p, grace_s)
        self.procs = [p for p in self.procs if p.name != "kueue"]
        self._save()
        return bool(found)

    def restart_kueue(self, user: dict[str, Any] | None = None, timeout_s: float = 120.0) -> Proc:
        """Kueue's manager again with another Configuration, the rest of the stack untouched. Kueue keeps no
        state of its own: its cache and queues are rebuilt from the API on start."""
        if not self.load():
            raise EmulatorError(f"no emulator recorded in {self.dir}")
        self.stop_kueue()
        return self.start_kueue(user, timeout_s)

    def _install_webhooks(self, api: Any, lws_dir: Path, pki: certs.Pki, port: int) -> None:
        """LWS's webhook configurations as deployed (kustomize patches applied), pointed at 127.0.0.1."""

        base = lws_dir / "config" / "webhook"
        docs = [d for d in yaml.safe_load_all((base / "manifests.yaml").read_text()) if d]
        patches = {
            "MutatingWebhookConfiguration": yaml.safe_load((base / "mutating-patch.yaml").read_text()),
            "ValidatingWebhookConfiguration": yaml.safe_load((base / "validating-patch.yaml").read_text()),
        }
        ca = base64.b64encode(pki.ca_crt.read_bytes()).decode()
        for doc in docs:
            for op in patches.get(doc["kind"], []):
                if op.get("op") == "replace" and op["path"].startswith("/webhooks/"):
                    doc["webhooks"][int(op["path"].rsplit("/", 1)[1])] = op["value"]
            prefix = "lws-" + ("mutating" if doc["kind"].startswith("Mutating") else "validating")
            doc["metadata"] = {"name": f"{prefix}-webhook-configuration"}
            for wh in doc["webhooks"]:
                path = wh["clientConfig"]["service"]["path"]
                wh["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca}
            _replace_webhook_configuration(api, doc)


def _replace_webhook_configuration(api: Any, doc: dict[str, Any]) -> None:
    """Create a (Mutating|Validating)WebhookConfiguration, replacing one of the same name."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    adm = client.AdmissionregistrationV1Api(api)
    create, delete = (
        (adm.create_mutating_webhook_configuration, adm.delete_mutating_webhook_configuration)
        if doc["kind"].startswith("Mutating")
        else (adm.create_validating_webhook_configuration, adm.delete_validating_webhook_configuration)
    )
    try:
        create(doc)
    except ApiException as exc:
        if exc.status != 409:
            raise
        delete(doc["metadata"]["name"])
        create(doc)


def _stop(p: Proc, grace_s: float) -> None:
    """TERM one recorded process, KILL it after ``grace_s``."""
    if alive(p):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
    _await_exit(p, time.monotonic() + grace_s)


def _await_exit(p: Proc, deadline: float) -> None:
    """Wait for a signalled process until ``deadline`` (monotonic), then KILL it; reap it if it is ours."""
    while alive(p) and time.monotonic() < deadline:
        Stack._reap(p)
        time.sleep(0.1)
    if alive(p):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
        time.sleep(0.1)
    Stack._reap(p)


@contextlib.contextmanager
def _cleanup_on_failure(stack: Stack) -> Iterator[None]:
    """Stop what was started if bring-up fails or is interrupted (SIGINT/SIGTERM/SIGHUP)."""

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not in the main thread
            old[sig] = signal.signal(sig, on_signal)
    try:
        yield
    except BaseException:
        log("bring-up failed or was interrupted: stopping what was started")
        logs = stack.dir / "logs"
        keep = build.cache_root() / "emulator-last-failure-logs"
        if logs.is_dir():
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(logs, keep)
            log(f"component logs kept in {keep}")
        stack.down()
        raise
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _kubeconfig(server: str, pki: certs.Pki) -> str:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "lwssim-emulator",
                    "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_crt)},
                }
            ],
            "users": [
                {
                    "name": "lwssim-admin",
                    "user": {
                        "client-certificate-data": b64(pki.admin_crt),
                        "client-key-data": b64(pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {"name": "lwssim-emulator", "context": {"cluster": "lwssim-emulator", "user": "lwssim-admin"}}
            ],
            "current-context": "lwssim-emulator",
        }
    )


def _client_ssl(pki: certs.Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
    ctx.load_cert_chain(str(pki.admin_crt), str(pki.admin_key))
    return ctx


def _http_get(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 3.0) -> bytes:
    # Only 127.0.0.1 URLs are ever passed here; no proxy must intervene.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    try:
        with opener.open(url, timeout=timeout) as resp:
            return bytes(resp.read()).strip()
    except urllib.error.HTTPError as exc:
        return exc.read().strip()


def _namespaces_work(kind: str) -> str | None:
    """None when an unprivileged user namespace with a ``kind`` namespace (``net`` for Karpenter, ``mount``
    for Kueue's manager) can be made here, else why not."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is missing"
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", f"--{kind}", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return f"user and {kind} namespaces are not available: {probe.stderr.strip()}"
    return None


def _install_crds(api: Any, crds: list[dict[str, Any]], what: str) -> None:
    """Create ``crds`` (those already there are kept) and wait until the API server serves them."""
    for crd in crds:
        _apply_crd(api, crd)
    names = [c["metadata"]["name"] for c in crds]
    _wait(f"{what} established", lambda: _crds_established(api, names), 60)


def _apply_crd(api: Any, crd: dict[str, Any]) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as exc:
        if exc.status != 409:
            raise


def _crds_established(api: Any, names: list[str]) -> bool:
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    for n in names:
        crd = ext.read_custom_resource_definition(n)
        conds = {c.type: c.status for c in (crd.status.conditions or [])}
        if conds.get("Established") != "True":
            return False
    return True


def _lws_dry_run(api: Any, queue: str = "") -> bool:
    """A server-side dry-run create passes through both LWS webhooks (and, with ``queue``, Kueue's: the LWS
    carries the queue-name label): proof they answer."""
    from kubernetes import client

    body = {
        "apiVersion": f"{LWS_GROUP}/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {
            "name": "lwssim-readiness-probe",
            "namespace": "default",
            "labels": {"kueue.x-k8s.io/queue-name": queue} if queue else {},
        },
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": 1,
                "workerTemplate": {"spec": {"containers": [{"name": "c", "image": "fake"}]}},
            },
        },
    }
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        LWS_GROUP, "v1", "default", "leaderworkersets", body, dry_run="All"
    )
    return True


def _nodes_ready(api: Any, names: list[str]) -> bool:
    from kubernetes import client

    v1 = client.CoreV1Api(api)
    ready = 0
    for n in v1.list_node(label_selector="type=kwok").items:
        if n.metadata.name in names and any(
            c.type == "Ready" and c.status == "True" for c in (n.status.conditions or [])
        ):
            ready += 1
    return ready == len(names)


def _default_sa(api: Any) -> bool:
    from kubernetes import client

    client.CoreV1Api(api).read_namespaced_service_account("default", "default")
    return True
