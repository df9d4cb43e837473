"""Input errors: one message naming the file and the field path (docs/contract.md, exit code 2).

Every message about input goes out through :meth:`InputError.render` (warnings too, :func:`warn`), which
keeps it to one line of bounded length whatever the user's values hold: a message quoting a megabyte-long
name or a multi-line string must not flood the terminal or break "one line on stderr".
"""

from __future__ import annotations

import re
import warnings

SHOWN_CHARS = 60  # a user's value is shown up to this many characters (where.show)
TOKEN_CHARS = 100  # longer runs of non-blank characters in a message are values nobody shortened: cut
MESSAGE_CHARS = 1000

_LONG_TOKEN = re.compile(rf"\S{{{TOKEN_CHARS + 1},}}")


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    """``text`` on one line, with over-long values and the whole cut to bounded lengths."""
    flat = " ".join(text.split())
    return clip(_LONG_TOKEN.sub(lambda m: clip(m.group(0), TOKEN_CHARS), flat), MESSAGE_CHARS)


def located(file: str, field: str, message: str) -> str:
    """``<file>: <field path>: <message>``, the form of every input error and warning."""
    where = ": ".join(p for p in (file, field) if p)
    return one_line(f"{where}: {message}" if where else message)


class InputError(Exception):
    """Bad input. Rendered as ``error: <file>: <field path>: <message>`` and exit 2, never a traceback."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file, self.field, self.message = file, field, message
        super().__init__(self.render())

    def render(self) -> str:
        return located(self.file, self.field, self.message)


class UnsupportedError(InputError):
    """The scenario asks for something the simulator cannot represent: refused, not approximated."""


class InputWarning(UserWarning):
    """Input that loads but is likely a mistake; the CLI prints it as ``warning: <file>: <field>: ...``."""


def warn(file: str, field: str, message: str) -> None:
    warnings.warn(InputWarning(located(file, field, message)), stacklevel=3)
