"""The live-cluster commands (snapshot, preflight, apply) as click commands; cli.py only registers them.

Kept here so cli.py stays argument parsing: each command calls into lwssim.kube and maps outcomes to the
contract's exit codes (0 ok, 1 a check failed / not all serving, 2 bad input or unusable cluster).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from lwssim.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

_kubeconfig = click.option(
    "--kubeconfig", default=None, help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
)
_context = click.option("--context", default=None, help="Kubeconfig context (default: the current one).")


@click.command()
@_kubeconfig
@_context
@click.option("-o", "--output-file", "out", default=None, help="Write the List here (default: stdout).")
@click.option("--force", is_flag=True, help="Replace an existing -o file.")
def snapshot(kubeconfig: str | None, context: str | None, out: str | None, force: bool) -> int:
    """Write the cluster's Nodes and bound Pods as a List usable as spec.cluster.nodes."""
    from lwssim.kube import client
    from lwssim.kube import snapshot as snap

    if out and Path(out).exists() and not force:
        raise InputError(out, "-o", "exists; pass --force to replace it")
    conn = client.connect(kubeconfig, context)
    client.server_version(conn)
    text = snap.dump(snap.take(conn))
    if out:
        try:
            snap.write_new(out, text, force)
        except FileExistsError:
            raise InputError(out, "-o", "exists; pass --force to replace it") from None
        click.echo(f"wrote {out} (context {conn.context})", err=True)
    else:
        click.echo(text, nl=False)
    return EXIT_OK


@click.command()
@click.option("-f", "--filename", "files", multiple=True, required=True, help="Manifest file (repeatable).")
@_kubeconfig
@_context
@click.option("-n", "--namespace", default=None, help="Namespace (default: the context's).")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def preflight(
    files: tuple[str, ...], kubeconfig: str | None, context: str | None, namespace: str | None, output: str
) -> int:
    """Check that the manifests can serve on this cluster: exit 0 (no fail), 1 (a fail), 2 (cannot run)."""
    from lwssim.kube import client, manifests
    from lwssim.kube import preflight as pf

    conn = client.connect(kubeconfig, context)
    ns = namespace or conn.namespace
    loaded = manifests.load(list(files), ns, tolerate=True)
    checks = pf.Preflight(conn, loaded, ns).run()
    doc = pf.to_doc(conn, ns, checks)
    if output == "json":
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        pf.render_table(doc)
    return pf.exit_code(checks)


@click.command()
@click.option("-f", "--filename", "files", multiple=True, required=True, help="Manifest file (repeatable).")
@_kubeconfig
@_context
@click.option("-n", "--namespace", default=None, help="Namespace (default: the context's).")
@click.option("--observe", is_flag=True, help="Watch until every group serves; record a Timeline.")
@click.option("--timeout", default="15m", show_default=True, help="How long --observe watches (duration).")
@click.option("--record", default=None, help="Write the observed Timeline (JSON) here.")
@click.option("--force", is_flag=True, help="Replace an existing --record file.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--cleanup", is_flag=True, help="Afterwards delete what this run created.")
def apply(
    files: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    observe: bool,
    timeout: str,
    record: str | None,
    force: bool,
    yes: bool,
    cleanup: bool,
) -> int:
    """Server-side apply (field manager lwssim) after a server-side dry-run; optionally observe."""
    from lwssim.kube import apply as ap
    from lwssim.kube import client, manifests
    from lwssim.model.quantity import QuantityError, parse_duration

    try:
        timeout_s = parse_duration(timeout)
    except QuantityError as exc:
        raise InputError("", "--timeout", str(exc)) from None
    if record and Path(record).exists() and not force:
        raise InputError(record, "--record", "exists; pass --force to replace it")
    if record and not observe:
        raise InputError("", "--record", "needs --observe")
    conn = client.connect(kubeconfig, context)
    ns = namespace or conn.namespace
    loaded = manifests.load(list(files), ns)
    client.server_version(conn)
    try:
        planned = ap.plan(conn, [m.doc for m in loaded], ns)
        ap.server_side_apply(conn, planned, dry_run=True)
    except ap.ApplyRefused as exc:
        raise InputError("", "", str(exc)) from None
    click.echo(f"context {conn.context} ({conn.server}), namespace {ns}:", err=True)
    for p in planned:
        click.echo(f"  {p.shown}: {'update (ours)' if p.exists else 'create'}", err=True)
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("", "--yes", "no terminal to confirm on: pass --yes to apply without asking")
        if not click.confirm("apply these objects?", err=True):
            click.echo("nothing changed", err=True)
            return EXIT_FAILED
    t0 = time.time()
    try:
        ap.server_side_apply(conn, planned, dry_run=False)
    except ap.ApplyRefused as exc:
        raise InputError("", "", str(exc)) from None
    click.echo("applied (server-side, field manager lwssim)", err=True)
    code = EXIT_OK
    if observe:
        code = _observe(conn, ns, loaded, t0, timeout_s, record, force)
    if cleanup:
        for ref in ap.cleanup(conn, planned):
            click.echo(f"deleted {ref} (created by this run)", err=True)
    return code


def _observe(
    conn: Any, ns: str, loaded: list[Any], t0: float, timeout_s: float, record: str | None, force: bool
) -> int:
    """Watch and record; Ctrl-C / SIGTERM stop the watch, the record is still written."""
    from kubernetes import client as k8s

    from lwssim.kube import observe as ob
    from lwssim.kube.progress import Progress
    from lwssim.model.quantity import GPU

    nodes = k8s.CoreV1Api(conn.api).list_node().items
    gpus = 0
    for n in nodes:
        with contextlib.suppress(ValueError):
            gpus += int((n.status.allocatable or {}).get(GPU, "0"))
    infos = ob.workload_infos([w for m in loaded for w in m.workloads])
    builder = ob.TimelineBuilder(t0, infos, {"nodes": len(nodes), "gpus": gpus})

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, on_term)
    interrupted = False
    with Progress(infos) as progress:
        try:
            timeline, done = ob.observe(conn.api, ns, builder, timeout_s, progress.update)
        except KeyboardInterrupt:
            interrupted, done, timeline = True, False, builder.timeline
        finally:
            signal.signal(signal.SIGTERM, old)
    if record:
        from lwssim.kube.snapshot import write_new

        text = json.dumps(timeline.to_dict(), indent=1, sort_keys=True) + "\n"
        write_new(record, text, force)
        click.echo(f"recorded {len(timeline.records)} records to {record}", err=True)
    if interrupted:
        click.echo("interrupted: watch stopped; the cluster is left as it is", err=True)
    elif not done:
        click.echo(f"not every group served within {timeout_s:.0f}s", err=True)
    return EXIT_OK if done else EXIT_FAILED
