"""The `lwssim` command: argument parsing and exit codes only (CONTRACT.md); the work is in modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lwssim import __version__
from lwssim.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


class LwssimGroup(click.Group):
    """Maps every input or usage error to one ``error: ...`` line on stderr and exit 2, never a traceback."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        try:
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
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_INPUT)


@click.group(cls=LwssimGroup)
@click.version_option(__version__, prog_name="lwssim")
def cli() -> None:
    """Simulate LeaderWorkerSet LLM deployments on Kubernetes GPU clusters before you apply them."""


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=None, help="Random seed; default: the scenario's spec.seed.")
@click.option(
    "--output", "-o", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True
)
def simulate(scenario: str, seed: int | None, output: str) -> int:
    """Simulate SCENARIO and report what serves, when, and why not."""
    from lwssim import runner
    from lwssim.report import to_json

    loaded = runner.load(scenario)
    click.echo(f"simulating {loaded.name} ...", err=True)
    report = runner.run(loaded, seed)
    if output == "json":
        click.echo(to_json(report), nl=False)
    elif output == "markdown":
        from lwssim.render.markdown import render_markdown

        click.echo(render_markdown(report), nl=False)
    else:
        from lwssim.render.table import render_table

        render_table(report)
    return EXIT_OK


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="SCENARIO|DIR...")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Also write JUnit XML here.")
@click.option(
    "--seed", type=int, default=None, help="Random seed for every scenario; default: each spec.seed."
)
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check(paths: tuple[str, ...], junit: str | None, seed: int | None, output: str) -> int:
    """Run each scenario and assert its `expect` list: exit 0 when all hold, 1 when one fails."""
    from lwssim import check as checking

    results = checking.check_paths(paths, seed, progress=lambda msg: click.echo(msg, err=True))
    if junit:
        try:
            Path(junit).write_text(checking.to_junit(results), encoding="utf-8")
        except OSError as exc:
            raise InputError(junit, "", f"cannot write JUnit report: {exc.strerror or exc}") from None
    if output == "json":
        click.echo(checking.to_json(results), nl=False)
    else:
        for result in results:
            for line in result.lines():
                color = "green" if line.startswith("PASS") else "red"
                click.echo(click.style(line[:4], fg=color, bold=True) + line[4:])
        click.echo(checking.summary_line(results))
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


@cli.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors and CI validation)."""
    from lwssim.manifests.schema import scenario_schema

    click.echo(json.dumps(scenario_schema(), indent=2, sort_keys=True))


try:  # the emulator ships separately in development; the CLI works without it
    from lwssim.emulator.cli import emulator
except ImportError:  # pragma: no cover - depends on what is installed
    emulator = None
if emulator is not None:
    cli.add_command(emulator)


def main() -> None:
    cli()
