"""``lwssim emulator up|down|status``: a real control plane + LWS with KWOK GPU nodes on 127.0.0.1.

stdout carries only the result (the kubeconfig path, or JSON with ``--output json``); progress goes
to stderr.  Exit codes: 0 ok, 1 failure, 2 an emulator already runs (``up``) / usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml

from lwssim.emulator import build, nodes
from lwssim.emulator.stack import AlreadyRunning, EmulatorError, Options, Stack

_state_opt = click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="State folder (default $LWSSIM_EMULATOR_DIR or ~/.cache/lwssim/emulator).",
)


@click.group(name="emulator")
def emulator() -> None:
    """Run LWS on an emulated cluster: etcd, kube-apiserver, kube-controller-manager,
    kube-scheduler, the LWS controller, and KWOK for fake GPU nodes, all on 127.0.0.1."""


@emulator.command()
@click.option(
    "--nodes", "n_nodes", type=click.IntRange(0), default=2, show_default=True, help="Fake GPU nodes."
)
@click.option("--gpus-per-node", type=click.IntRange(0), default=8, show_default=True)
@click.option("--cpu-per-node", default="96", show_default=True)
@click.option("--memory-per-node", default="1024Gi", show_default=True)
@click.option("--pool", default="gpu", show_default=True, help="Node name prefix: <pool>-<i>.")
@click.option(
    "--topology",
    multiple=True,
    metavar="KEY=SIZE",
    help="Topology label, SIZE nodes per domain: node i gets KEY=<pool>-<word>-<i//SIZE>. Repeatable.",
)
@click.option(
    "--start-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds from pod scheduled to containers started (KWOK stage).",
)
@click.option(
    "--ready-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds from containers started to Ready (KWOK stage).",
)
@click.option("--jitter", type=float, default=0.0, show_default=True, help="Extra uniform delay, seconds.")
@click.option(
    "--termination",
    type=click.FloatRange(0.0),
    default=0.0,
    show_default=True,
    help="Seconds from a pod's deletion until its kubelet confirms it (containers exited).",
)
@click.option(
    "--timeout", type=float, default=180.0, show_default=True, help="Seconds to wait for readiness."
)
@click.option(
    "--lws-version",
    type=click.Choice(build.LWS_VERSIONS),
    default=build.LWS_VERSION,
    show_default=True,
    help="LWS release whose controller, CRDs and webhooks run (built and cached per release).",
)
@click.option(
    "--with",
    "extras",
    multiple=True,
    type=click.Choice(["kueue", "karpenter"]),
    help=f"Also run an optional part (built on first use; repeatable): kueue (Kueue {build.KUEUE_VERSION}'s "
    f"manager), karpenter ({build.KARPENTER_VERSION} and its KWOK provider: NodePools make nodes).",
)
@click.option(
    "--kueue-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A Kueue Configuration file (its fields, camelCase) merged over the emulator's defaults.",
)
@click.option(
    "--karpenter-instance-types",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Karpenter KWOK instance-types JSON file (default: one type gpu-8x-h100, 8 nvidia.com/gpu).",
)
@click.option(
    "--karpenter-batch",
    default="1s,10s",
    show_default=True,
    metavar="IDLE,MAX",
    help="Karpenter's --batch-idle-duration and --batch-max-duration.",
)
@click.option(
    "--karpenter-registration-delay",
    default=None,
    metavar="DURATION",
    help="The KWOKNodeClass default's nodeRegistrationDelay (e.g. 30s): launch to Node created.",
)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_state_opt
def up(
    n_nodes: int,
    gpus_per_node: int,
    cpu_per_node: str,
    memory_per_node: str,
    pool: str,
    topology: tuple[str, ...],
    start_delay: float,
    ready_delay: float,
    jitter: float,
    termination: float,
    timeout: float,
    lws_version: str,
    extras: tuple[str, ...],
    kueue_config: Path | None,
    karpenter_instance_types: Path | None,
    karpenter_batch: str,
    karpenter_registration_delay: str | None,
    output: str,
    state_dir: Path | None,
) -> None:
    """Start the stack (building it first if needed) and print the kubeconfig path."""
    if kueue_config is not None and "kueue" not in extras:
        raise click.UsageError("--kueue-config needs --with kueue")
    if "karpenter" not in extras and (
        karpenter_instance_types is not None or karpenter_registration_delay is not None
    ):
        raise click.UsageError("--karpenter-* options need --with karpenter")
    batch_idle, sep, batch_max = karpenter_batch.partition(",")
    if not sep or not batch_idle or not batch_max:
        raise click.UsageError(f"--karpenter-batch wants IDLE,MAX (e.g. 1s,10s), got {karpenter_batch!r}")
    try:
        topo = nodes.parse_topology(topology)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    opts = Options(
        node_spec=nodes.NodeSpec(
            count=n_nodes,
            gpus_per_node=gpus_per_node,
            cpu=cpu_per_node,
            memory=memory_per_node,
            pool=pool,
            topology=topo,
        ),
        start_delay_s=start_delay,
        ready_delay_s=ready_delay,
        jitter_s=jitter,
        termination_s=termination,
        timeout_s=timeout,
        lws_version=lws_version,
        kueue="kueue" in extras,
        kueue_config=_read_config(kueue_config),
        karpenter="karpenter" in extras,
        karpenter_instance_types=karpenter_instance_types,
        karpenter_batch_idle=batch_idle,
        karpenter_batch_max=batch_max,
        karpenter_registration_delay=karpenter_registration_delay,
    )
    stack = Stack(state_dir)
    try:
        info = stack.up(opts)
    except AlreadyRunning as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (EmulatorError, build.BuildError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted: everything started was stopped", err=True)
        sys.exit(130)
    if output == "json":
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(info["kubeconfig"])
        click.echo(
            f"kubectl --kubeconfig {info['kubeconfig']} get nodes   # kubectl: {info['kubectl']}", err=True
        )


def _read_config(path: Path | None) -> dict:
    """A Kueue Configuration file's fields (apiVersion and kind, if there, are the emulator's to set)."""
    if path is None:
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict):
        raise click.UsageError(f"{path}: a Kueue Configuration must be a mapping")
    return doc


@emulator.command(name="kueue-config")
@click.argument("config_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for readiness."
)
@_state_opt
def kueue_config_cmd(config_file: Path | None, timeout: float, state_dir: Path | None) -> None:
    """Restart only Kueue's manager on the running stack, with CONFIG_FILE's fields over the defaults
    (none: the defaults). Starts it if the stack was brought up without it. Prints the Configuration file."""
    stack = Stack(state_dir)
    if not stack.load() or not stack.running():
        click.echo(f"error: no emulator runs from {stack.dir}", err=True)
        sys.exit(1)
    try:
        stack.restart_kueue(_read_config(config_file), timeout_s=timeout)
    except (EmulatorError, build.BuildError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(stack.info["kueue_config"])


@emulator.command()
@_state_opt
def down(state_dir: Path | None) -> None:
    """Stop every process `up` started (by PID) and remove the state folder."""
    stack = Stack(state_dir)
    if not stack.state_file.exists():
        click.echo("no emulator recorded; nothing to stop", err=True)
        return
    stopped = stack.down()
    click.echo(
        f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}; removed {stack.dir}", err=True
    )


@emulator.command()
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_state_opt
def status(output: str, state_dir: Path | None) -> None:
    """Say what runs. Exit 0 when the whole stack runs, 1 otherwise."""
    st = Stack(state_dir).status()
    if output == "json":
        click.echo(json.dumps(st, indent=2))
    elif not st["components"]:
        click.echo(f"not running (no state in {st['state_dir']})")
    else:
        state = "running" if st["running"] else ("PARTIAL" if st.get("partial") else "stopped")
        click.echo(f"{state}; kubeconfig {st['kubeconfig']}; RSS {st['rss_mb_total']:.0f} MiB")
        for c in st["components"]:
            click.echo(
                f"  {c['name']:<24} pid {c['pid']:<8} {'up' if c['alive'] else 'DOWN':<5} "
                f"{c['rss_mb']:>7.1f} MiB  {c['log']}"
            )
    sys.exit(0 if st["running"] else 1)


if __name__ == "__main__":
    emulator()
