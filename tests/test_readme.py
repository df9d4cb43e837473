"""What the README shows a person is what the program prints, and every relative link leads somewhere.

A fenced sample is marked ``<!-- sample: COMMAND -->`` on the line before its fence; the fence starts with
``$ COMMAND`` and the rest is what a terminal shows (stderr and stdout as written) when it runs from the
repository root. A figure quoted in prose is followed by ``<!-- figure: COMMAND -> FIELD -->``: COMMAND's
JSON output at FIELD (``a.b[0].c``), rounded to the digits shown. Only trailing spaces and blank lines at
the end are dropped before comparing (rich pads table rows; a reader cannot see either): the outputs
hold no wall-clock times, so nothing else varies.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lwssim.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLE = re.compile(r"^<!-- sample: (?P<command>.+?) -->\n```[\w-]*\n(?P<body>.*?)^```$", re.M | re.S)
FIGURE = re.compile(r"(?P<shown>-?\d+(?:\.\d+)?)<!-- figure: (?P<command>.+?) -> (?P<field>[\w.\[\]]+) -->")
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)|^\[[^\]]+\]:\s*(?P<ref>\S+)", re.M)


@cache
def run(command: str) -> Result:
    """``command`` (``lwssim ...``) run at the repository root, as from a terminal without COLUMNS set."""
    args = shlex.split(command)
    assert args[0] == "lwssim", command
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        result = CliRunner(env={"COLUMNS": None}).invoke(cli, args[1:])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def visible(text: str) -> list[str]:
    """The lines a reader sees: without trailing spaces, and without blank lines at the end."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n").split("\n")


def samples() -> list[tuple[str, str]]:
    return [(m["command"], m["body"]) for m in SAMPLE.finditer(README.read_text(encoding="utf-8"))]


def figures() -> list[tuple[str, str, str]]:
    return [
        (m["shown"], m["command"], m["field"]) for m in FIGURE.finditer(README.read_text(encoding="utf-8"))
    ]


def test_readme_has_marked_samples_and_figures() -> None:
    """Every output-looking fence is marked, so none escapes the comparison below."""
    text = README.read_text(encoding="utf-8")
    fences_with_output = re.findall(r"^```[\w-]*\n\$ ", text, re.M)
    assert len(samples()) == len(fences_with_output) >= 2
    assert len(figures()) >= 4


@pytest.mark.parametrize(("command", "body"), samples(), ids=[c for c, _ in samples()])
def test_readme_sample_is_the_program_output(command: str, body: str) -> None:
    first, _, shown = body.partition("\n")
    assert first == f"$ {command}", "the fence must start with the command its marker names"
    assert visible(shown) == visible(run(command).output)  # stderr and stdout, as written


@pytest.mark.parametrize(
    ("shown", "command", "field"), figures(), ids=[f"{c} -> {f}" for _, c, f in figures()]
)
def test_readme_figure_is_the_program_output(shown: str, command: str, field: str) -> None:
    value = json.loads(run(command).stdout)
    for key in re.findall(r"[^.\[\]]+", field):
        value = value[int(key)] if key.isdigit() else value[key]
    decimals = len(shown.partition(".")[2])
    assert f"{value:.{decimals}f}" == shown


def markdown_files() -> list[Path]:
    return [
        README,
        *sorted(ROOT.glob("docs/*.md")),
        *sorted(ROOT.glob("lwssim/**/README.md")),
        ROOT / "benchmarks" / "README.md",
    ]


@pytest.mark.parametrize("md", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_to_files_in_the_repository(md: Path) -> None:
    text = re.sub(r"^```.*?^```$", "", md.read_text(encoding="utf-8"), flags=re.M | re.S)  # code is not links
    for m in LINK.finditer(text):
        target = (m["target"] or m["ref"]).split("#", 1)[0]
        if not target or re.match(r"[a-z][a-z0-9+.-]*:", target):  # an anchor in the page, or a URL
            continue
        path = (md.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{md.name}: {target} leads outside the repository"
        assert path.exists(), f"{md.name}: {target} does not exist"


def write_samples() -> None:
    """Rewrite every marked sample with the program's output (``python tests/test_readme.py --write``), e.g.
    after a change of defaults moved the numbers; review the diff before committing it."""
    text = README.read_text(encoding="utf-8")

    def fresh(m: re.Match[str]) -> str:
        shown = "\n".join(visible(run(m["command"]).output))
        fence = m.group(0).split("\n", 2)[1]
        return f"<!-- sample: {m['command']} -->\n{fence}\n$ {m['command']}\n{shown}\n```"

    README.write_text(SAMPLE.sub(fresh, text), encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        write_samples()
