"""Width for rich output: the terminal's when there is one, else wide enough that tables piped to a
file or CI log are not cut at rich's 80-column default."""

from __future__ import annotations

import os
import sys
from typing import IO

PIPED_WIDTH = 120


def console_width(file: IO[str] | None) -> int | None:
    stream = file or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return None  # rich asks the terminal
    return int(os.environ.get("COLUMNS", PIPED_WIDTH))
