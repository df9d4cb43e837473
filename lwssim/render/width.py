"""Width for rich output: the terminal's when there is one. Piped to a file or CI log, no width limit
(unless ``COLUMNS`` asks for one): rich would otherwise wrap notes and scheduler messages mid-sentence at
a width nobody chose, and tables render at their natural width anyway."""

from __future__ import annotations

import os
import sys
from typing import IO

UNLIMITED_WIDTH = 100_000  # wider than any line lwssim prints; rich needs a number


def console_width(file: IO[str] | None) -> int | None:
    stream = file or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return None  # rich asks the terminal
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else UNLIMITED_WIDTH
