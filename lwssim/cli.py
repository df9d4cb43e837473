"""The `lwssim` command: argument parsing and exit codes only (docs/contract.md); the work is in modules."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

from lwssim import __version__
from lwssim.errors import InputError, InputWarning, one_line
from lwssim.manifests.limits import MAX_NODES

if TYPE_CHECKING:
    from lwssim.model.scenario import Scenario

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
MAX_RUNS = 10_000  # Monte Carlo runs: p05/p95 settle within a few hundred; more only costs time
MAX_JOBS = 256  # worker processes: each is a Python interpreter of its own
MAX_BEYOND = 100


class LwssimGroup(click.Group):
    """Maps every input or usage error to one ``error: ...`` line on stderr and exit 2, never a traceback."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        try:
            with _warnings_to_stderr():
                rv = super().main(*args, standalone_mode=False, **kwargs)
        except InputError as exc:
            _fail(exc.render())
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(EXIT_INPUT)
        except click.ClickException as exc:
            _fail(exc.format_message())
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_FAILED)
        code = rv if isinstance(rv, int) else EXIT_OK
        if not standalone_mode:
            return code
        sys.exit(code)


def _fail(message: str) -> None:
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(EXIT_INPUT)


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Input warnings (errors.InputWarning) as ``warning: <file>: <field>: ...`` lines, each once."""
    seen: set[str] = set()

    def show(message: Warning | str, *_args: Any, **_kwargs: Any) -> None:
        text = str(message)
        if text not in seen:
            seen.add(text)
            click.echo(f"warning: {text}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        warnings.showwarning = show
        yield


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (``nan`` passes every comparison with a bound)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


class Duration(click.ParamType):
    """A Go/Kubernetes duration (90s, 5m, 1h30m) → seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from lwssim.model.quantity import QuantityError, parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except QuantityError:
            self.fail(f"{value!r} is not a duration (write it like 90s, 5m or 1h30m).", param, ctx)


def _plots_need_markdown(output: str, plots_dir: str | None) -> None:
    """--plots-dir writes files only for Markdown, which links them; elsewhere it would be ignored."""
    if plots_dir is not None and output != "markdown":
        embedded = " (html embeds its plots)" if output == "html" else ""
        raise click.BadOptionUsage(
            "plots_dir", f"--plots-dir writes plots only with --output markdown, not {output}{embedded}."
        )


# Options shared by the commands that write reports.
REPORT_OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json", "markdown", "html"]),
    default="table",
    show_default=True,
)
PLOTS_DIR = click.option(
    "--plots-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="With --output markdown: write the plots here as PNG files and link them.",
)
# Seeds as the scenario's spec.seed takes them: a non-negative integer, 64 bits at most.
SEED_TYPE = click.IntRange(0, 2**63 - 1)


@click.group(cls=LwssimGroup)
@click.version_option(__version__, prog_name="lwssim")
def cli() -> None:
    """Simulate LeaderWorkerSet LLM deployments on Kubernetes GPU clusters before you apply them."""


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--seed", type=SEED_TYPE, default=None, help="Random seed; default: the scenario's spec.seed.")
@REPORT_OUTPUT
@PLOTS_DIR
@click.option(
    "--compare-lws-version",
    "compare_to",
    metavar="VERSION",
    default=None,
    help="Also run under this LWS version (e.g. v0.9.0), same seed, and report the two side by side: "
    "readiness, rollouts, recreations, availability.",
)
def simulate(
    scenario: str, seed: int | None, output: str, plots_dir: str | None, compare_to: str | None
) -> int:
    """Simulate SCENARIO and report what serves, when, and why not."""
    from lwssim import runner
    from lwssim.analysis.report import to_json

    _plots_need_markdown(output, plots_dir)
    loaded = runner.seeded(runner.load(scenario), seed)
    if compare_to is not None:
        return _compare_lws_versions(scenario, loaded, compare_to, output, plots_dir)
    click.echo(f"simulating {loaded.name} ...", err=True)
    if output == "html" or (output == "markdown" and plots_dir):
        from lwssim.render.plots import report_figures

        report, timeline = runner.run_with_timeline(loaded)
        figures = report_figures(report, timeline)
    else:
        report, figures = runner.run(loaded), []
    if output == "json":
        click.echo(to_json(report), nl=False)
    elif output == "html":
        from lwssim.render.html import render_report_html

        click.echo(render_report_html(report, figures), nl=False)
    elif output == "markdown":
        from lwssim.render.markdown import render_markdown

        click.echo(render_markdown(report), nl=False)
        if plots_dir:
            links = _markdown_figures(figures, plots_dir, loaded.name)
            click.echo("".join(f"\n![{title}]({link})\n" for title, link in links), nl=False)
    else:
        from lwssim.render.table import render_table

        render_table(report)
    return EXIT_OK


def _compare_lws_versions(path: str, loaded: Scenario, other: str, output: str, plots_dir: str | None) -> int:
    """``simulate --compare-lws-version``: the scenario as written and under ``other``, side by side."""
    from lwssim import runner
    from lwssim.analysis.report import to_json
    from lwssim.analysis.upgrade import compare_versions
    from lwssim.render import upgrade

    if plots_dir:
        raise click.UsageError("--plots-dir does not apply to --compare-lws-version")
    under = runner.load_under(path, other, loaded.seed, f"with --compare-lws-version {other}")
    versions = [loaded.controller.lws_version, under.controller.lws_version]
    click.echo(f"simulating {loaded.name} under LWS {versions[0]} and {versions[1]} ...", err=True)
    doc = compare_versions([runner.run(loaded), runner.run(under)], versions)
    if output == "json":
        click.echo(to_json(doc), nl=False)
    elif output == "html":
        click.echo(upgrade.render_html(doc), nl=False)
    elif output == "markdown":
        click.echo(upgrade.render_markdown(doc), nl=False)
    else:
        upgrade.render_table(doc)
    return EXIT_OK


class _CheckCommand(click.Command):
    """``check``: a usage error (exit 2) still writes the ``--junit`` report, so CI always finds one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        raw = list(args)  # click consumes the list it parses
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            junit = _option_value(raw, "--junit")
            if junit:
                with contextlib.suppress(OSError):  # the usage error may be about that very path
                    Path(junit).write_text(_check().junit_error("", exc.format_message()), encoding="utf-8")
            raise


def _option_value(args: list[str], option: str) -> str | None:
    """``option``'s value among raw arguments (``--opt V`` or ``--opt=V``), for when click could not parse."""
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.partition("=")[2]
    return None


def _check() -> ModuleType:
    """lwssim.check, imported when used (it loads the engine), as every command imports its work."""
    from lwssim import check

    return check


def _write_junit(path: str, xml: str) -> None:
    try:
        Path(path).write_text(xml, encoding="utf-8")
    except OSError as exc:
        raise InputError(path, "", f"cannot write JUnit report: {exc.strerror or exc}") from None


@cli.command(cls=_CheckCommand)
@click.argument("paths", nargs=-1, required=True, metavar="SCENARIO|DIR...")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Also write JUnit XML here.")
@click.option(
    "--seed", type=SEED_TYPE, default=None, help="Random seed for every scenario; default: each spec.seed."
)
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--runs",
    type=click.IntRange(1, MAX_RUNS),
    default=50,
    show_default=True,
    help="Monte Carlo runs behind expectations that name a quantile.",
)
@click.option(
    "--lws-version",
    metavar="VERSION",
    default=None,
    help="Run every scenario under this LWS version only (expectations naming other versions are not "
    "asserted); default: each scenario's own and those its expectations name.",
)
def check(
    paths: tuple[str, ...],
    junit: str | None,
    seed: int | None,
    output: str,
    runs: int,
    lws_version: str | None,
) -> int:
    """Run each scenario and assert its `expect` list: exit 0 when all hold, 1 when one fails.

    A scenario runs under its own LWS version and under every version its expectations name
    (expect[].lwsVersions), each run held to the expectations for that version.
    YAML files of a DIR that are not scenarios are skipped and listed; one that looks like a scenario
    but is not valid is bad input (exit 2). --junit is written on every exit code.
    """
    checking = _check()
    try:
        results, skipped = checking.check_paths(
            paths, seed, progress=lambda msg: click.echo(msg, err=True), runs=runs, lws_version=lws_version
        )
    except InputError as exc:
        if junit:
            _write_junit(junit, checking.junit_error(exc.file, exc.render()))
        raise
    if junit:
        _write_junit(junit, checking.to_junit(results, skipped))
    if output == "json":
        click.echo(checking.to_json(results, skipped), nl=False)
    else:
        colors = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
        for line in [line for r in results for line in r.lines()] + checking.skipped_lines(skipped):
            click.echo(click.style(line[:4], fg=colors[line[:4]], bold=True) + line[4:])
        click.echo(checking.summary_line(results, skipped))
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def _markdown_figures(figures: list, plots_dir: str, prefix: str) -> list[tuple[str, str]]:
    """Write the figures as PNG files in ``plots_dir``; (title, link) pairs, each link relative to where
    the Markdown on stdout goes (lwssim.render.links)."""
    from lwssim.render.links import relative_link, report_dir
    from lwssim.render.plots import write_figures

    try:
        written = write_figures(figures, Path(plots_dir), prefix)
    except OSError as exc:
        raise InputError(plots_dir, "--plots-dir", f"cannot write plots: {exc.strerror or exc}") from None
    base = report_dir()
    return [(f.title, relative_link(path, base)) for f, path in written]


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--pool", default=None, help="The node pool (spec.cluster.nodePools[].name) to size.")
@click.option(
    "--cluster-queue",
    default=None,
    help="Size this Kueue ClusterQueue's nominalQuota instead of a pool (exactly one of --pool and "
    "--cluster-queue).",
)
@click.option(
    "--resource",
    default=None,
    help="With --cluster-queue: the resource whose quota to size; default: nvidia.com/gpu.",
)
@click.option(
    "--flavor",
    default=None,
    help="With --cluster-queue: the ResourceFlavor whose quota to size; default: the only one covering "
    "--resource.",
)
@click.option(
    "--min",
    "min_count",
    type=click.IntRange(min=0),
    default=None,
    help="Smallest count (quota, in the resource's unit) to try; default: the resource lower bound (one "
    "group's request).",
)
@click.option(
    "--max",
    "max_count",
    type=click.IntRange(min=0),
    default=None,
    help="Largest count to try; default: twice the pool's count (quota: what every group requests at once).",
)
@click.option(
    "--runs",
    type=click.IntRange(1, MAX_RUNS),
    default=100,
    show_default=True,
    help="Most Monte Carlo runs per candidate count (fewer once the sequential test decides).",
)
@click.option(
    "--target-availability",
    type=FiniteFloatRange(0.0, 1.0),
    default=None,
    help="Mean availability over the runs must reach this, e.g. 0.999.",
)
@click.option(
    "--target-time-to-serving",
    type=Duration(),
    default=None,
    help="The --quantile of time to all serving must be within this duration, e.g. 15m.",
)
@click.option("--quantile", type=FiniteFloatRange(0.0, 1.0, min_open=True), default=0.95, show_default=True)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, MAX_JOBS),
    default=None,
    help="Worker processes; default: all cores. Results do not depend on it.",
)
@click.option(
    "--dask-scheduler",
    envvar="LWSSIM_DASK_SCHEDULER",
    show_envvar=True,
    metavar="ADDRESS",
    default=None,
    help="Run the Monte Carlo runs on this Dask scheduler, e.g. tcp://host:8786 (pip install "
    "'lwssim[dask]'; workers need the same lwssim); same results as a local run. --jobs is then unused.",
)
@click.option("--seed", type=SEED_TYPE, default=None, help="Base seed of the runs; default: spec.seed.")
@click.option(
    "--confidence",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Confidence at which a candidate's runs stop early (sequential test on each target).",
)
@click.option(
    "--beyond",
    type=click.IntRange(0, MAX_BEYOND),
    default=1,
    show_default=True,
    help="Also simulate this many counts above the recommendation (trend, non-monotone checks).",
)
@REPORT_OUTPUT
@PLOTS_DIR
def plan(
    scenario: str,
    pool: str | None,
    cluster_queue: str | None,
    resource: str | None,
    flavor: str | None,
    min_count: int | None,
    max_count: int | None,
    runs: int,
    target_availability: float | None,
    target_time_to_serving: float | None,
    quantile: float,
    jobs: int | None,
    dask_scheduler: str | None,
    seed: int | None,
    confidence: float,
    beyond: int,
    output: str,
    plots_dir: str | None,
) -> int:
    """The fewest nodes of --pool (or the smallest nominal quota of --cluster-queue) that place every
    group, serve in time and stay up (Monte Carlo).

    Exit 0 with a recommendation, 1 when no count (quota) in range meets the targets, 2 on bad input.
    """

    from lwssim import runner
    from lwssim.analysis.report import to_json
    from lwssim.plan import Targets, cluster_queue_quota, pool_dimension, search
    from lwssim.plan.progress import RichProgress
    from lwssim.plan.report import to_dict
    from lwssim.render.plan import recommended

    _plots_need_markdown(output, plots_dir)
    _one_dimension(
        pool,
        cluster_queue,
        {"--resource": resource, "--flavor": flavor},
        {"--min": min_count, "--max": max_count},
    )
    loaded = runner.load(scenario)
    if min_count is not None and max_count is not None and min_count > max_count:
        raise InputError(scenario, "--min", f"{min_count} is above --max {max_count}")
    loaded = runner.seeded(loaded, seed)
    dimension = (
        pool_dimension(loaded, pool)
        if pool is not None
        else cluster_queue_quota(loaded, cluster_queue, resource, flavor)
    )
    targets = Targets(target_availability, target_time_to_serving, quantile)
    with contextlib.ExitStack() as stack:
        open_runs = None
        if dask_scheduler:
            from lwssim.plan.dask_runs import DaskRunner, connect

            client = stack.enter_context(connect(dask_scheduler))
            threads = sum(client.nthreads().values())
            click.echo(f"Dask scheduler {dask_scheduler}: {threads} worker threads now", err=True)
            open_runs = functools.partial(DaskRunner, client)
        result = search(
            loaded,
            dimension,
            lo=min_count,
            hi=max_count,
            runs=runs,
            targets=targets,
            jobs=jobs,
            beyond=beyond,
            progress=RichProgress(),
            open_runs=open_runs,
            confidence=confidence,
        )
    doc = to_dict(result)
    if output == "json":
        click.echo(to_json(doc), nl=False)
    elif output in ("html", "markdown"):
        from lwssim.render.plots import plan_figures

        figures = plan_figures(doc) if output == "html" or plots_dir else []
        if output == "html":
            from lwssim.render.html import render_plan_html

            click.echo(render_plan_html(doc, figures), nl=False)
        else:
            from lwssim.render.plan import render_plan_markdown

            links = _markdown_figures(figures, plots_dir, f"{loaded.name}-plan") if plots_dir else []
            click.echo(render_plan_markdown(doc, links), nl=False)
    else:
        from lwssim.render.plan import render_plan_table

        render_plan_table(doc)
    return EXIT_OK if recommended(doc) is not None else EXIT_FAILED


def _one_dimension(
    pool: str | None,
    cluster_queue: str | None,
    queue_options: dict[str, str | None],
    counts: dict[str, int | None],
) -> None:
    """Exactly one of --pool and --cluster-queue; ``queue_options`` (--resource, --flavor) only with
    --cluster-queue; with --pool, ``counts`` (--min, --max) within lwssim's node limit."""
    if (pool is None) == (cluster_queue is None):
        raise click.UsageError(
            "give exactly one of --pool (size a node pool) and --cluster-queue (size a ClusterQueue's quota)"
        )
    if pool is not None:
        extra = [option for option, value in queue_options.items() if value is not None]
        if extra:
            raise click.UsageError(f"{' and '.join(extra)} go with --cluster-queue, not --pool")
        for option, value in counts.items():
            if value is not None and value > MAX_NODES:
                raise click.BadParameter(
                    f"{value} is not in the range 0<=x<={MAX_NODES}.", param_hint=f"'{option}'"
                )


@cli.command()
@click.argument("observed", type=click.Path(dir_okay=False))
@click.option(
    "--scenario",
    "scenario_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The scenario that describes the plan the cluster ran.",
)
@click.option(
    "--tolerance",
    type=FiniteFloatRange(min=0.0),
    default=0.05,
    show_default=True,
    help="Largest relative error of time to serving that still agrees.",
)
@click.option("--seed", type=SEED_TYPE, default=None, help="Random seed; default: the scenario's spec.seed.")
@REPORT_OUTPUT
@PLOTS_DIR
def compare(
    observed: str, scenario_path: str, tolerance: float, seed: int | None, output: str, plots_dir: str | None
) -> int:
    """Simulate the scenario and compare it with an OBSERVED Timeline (`apply --record`).

    Exit 1 when placement or pending differs for a pod, or time to serving is beyond --tolerance.
    """
    from lwssim import runner
    from lwssim.analysis import compare as comparing
    from lwssim.analysis.report import to_json
    from lwssim.render import compare as compare_render

    _plots_need_markdown(output, plots_dir)
    obs = comparing.load_observed(observed)
    loaded = runner.seeded(runner.load(scenario_path), seed)
    click.echo(f"simulating {loaded.name} ...", err=True)
    _, sim = runner.run_with_timeline(loaded)
    doc = comparing.compare(obs, sim, loaded, tolerance)
    if output == "json":
        click.echo(to_json(doc), nl=False)
    elif output == "html":
        click.echo(compare_render.render_html(doc, compare_render.plot(obs, sim)), nl=False)
    elif output == "markdown":
        link = None
        png = compare_render.plot(obs, sim) if plots_dir else None
        if plots_dir and png:
            from lwssim.render.plots import Figure

            figure = Figure("compare", "Observed and simulated timelines", png)
            link = _markdown_figures([figure], plots_dir, loaded.name)[0][1]
        click.echo(compare_render.render_markdown(doc, link), nl=False)
    else:
        click.echo(compare_render.render_table(doc), nl=False)
    return EXIT_OK if doc["summary"]["agree"] else EXIT_FAILED


@cli.command()
@click.argument("observed", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--audit-log",
    "audit_logs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A kube-apiserver audit log (JSON lines, Metadata level or more): fit timing.apiLatency from "
    "it. Repeatable; may be given without OBSERVED.",
)
@click.option(
    "-o",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the timing block (YAML) here; default: stdout.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to report the fit (on stdout when --out is given, else on stderr).",
)
def calibrate(
    observed: tuple[str, ...], audit_logs: tuple[str, ...], out: str | None, force: bool, output: str
) -> int:
    """Fit the scenario `timing` block from OBSERVED Timelines (`apply --record`) and audit logs."""
    import yaml

    from lwssim.analysis import audit
    from lwssim.analysis import calibrate as calibrating
    from lwssim.analysis.compare import load_observed
    from lwssim.analysis.report import to_json

    if not observed and not audit_logs:
        raise InputError("calibrate", "OBSERVED", "give at least one observed Timeline or --audit-log")
    if out and Path(out).exists() and not force:
        raise InputError(out, "", "exists; pass --force to overwrite it")
    doc = (
        calibrating.calibrate([load_observed(p) for p in observed])
        if observed
        else {"timing": {}, "fits": [], "notes": []}
    )
    if audit_logs:
        api = audit.api_latency(list(audit_logs))
        doc["fits"] += api["fits"]
        doc["notes"] += api["notes"]
        if api["apiLatency"]:
            doc["timing"]["apiLatency"] = api["apiLatency"]
    sources = [
        f"{len(xs)} {what}" for xs, what in ((observed, "timeline(s)"), (audit_logs, "audit log(s)")) if xs
    ]
    lines = [f"# fitted by `lwssim calibrate` from {' and '.join(sources)}; paste under spec:"]
    for f in doc["fits"]:
        lines.append(
            f"#   {f['phase']} ({f['role']}): n={f['n']} median={f['median']}s "
            f"p10={f['p10']}s p90={f['p90']}s"
        )
    text = "\n".join(lines) + "\n" + yaml.safe_dump({"timing": doc["timing"]}, sort_keys=False)
    report = (
        to_json(doc)
        if output == "json"
        else "".join(line[4:] + "\n" for line in lines[1:]) + "".join(f"note: {n}\n" for n in doc["notes"])
    )
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(out, "", f"cannot write: {exc.strerror or exc}") from None
        click.echo(report, nl=False)
    else:
        click.echo(report, nl=False, err=True)
        click.echo(text, nl=False)
    return EXIT_OK


@cli.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors and CI validation)."""
    from lwssim.manifests.schema import scenario_schema

    click.echo(json.dumps(scenario_schema(), indent=2, sort_keys=True))


from lwssim.kube.commands import apply as _apply  # noqa: E402 - live-cluster commands (lwssim/kube)
from lwssim.kube.commands import preflight as _preflight  # noqa: E402
from lwssim.kube.commands import snapshot as _snapshot  # noqa: E402

for _cmd in (_snapshot, _preflight, _apply):
    cli.add_command(_cmd)

try:  # the emulator ships separately in development; the CLI works without it
    from lwssim.emulator.cli import emulator
except ImportError:  # pragma: no cover - depends on what is installed
    emulator = None
if emulator is not None:
    cli.add_command(emulator)


def main() -> None:
    cli()
