"""Progress of a plan on stderr: a rich bar once the plan has run a few seconds, one line per candidate."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lwssim.plan.search import Candidate
from lwssim.plan.search import Progress as SearchProgress

DELAY_SECONDS = 2.0


class RichProgress(SearchProgress):
    """Draws nothing for plans that finish quickly; a live bar on a terminal, plain lines otherwise."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.started = time.monotonic()
        self.bar: Progress | None = None
        self.task = None
        self.label = ""
        self.total = 0
        self.done = 0

    def candidate(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        if self.bar is not None and self.task is not None:
            self.bar.reset(self.task, total=total, description=label)

    def advance(self) -> None:
        self.done += 1
        if self.bar is None and self.console.is_terminal and time.monotonic() - self.started > DELAY_SECONDS:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("runs"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done)
        elif self.bar is not None and self.task is not None:
            self.bar.advance(self.task)

    def finished(self, label: str, candidate: Candidate) -> None:
        verdict = "meets the targets" if candidate.meets else f"fails ({candidate.rejected})"
        self.console.print(f"{label}: {verdict} after {len(candidate.results)} runs", highlight=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
