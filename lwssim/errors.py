"""Input errors: one message naming the file and the field path (docs/contract.md, exit code 2)."""

from __future__ import annotations


class InputError(Exception):
    """Bad input. Rendered as ``error: <file>: <field path>: <message>`` and exit 2, never a traceback."""

    def __init__(self, file: str, field: str, message: str) -> None:
        self.file, self.field, self.message = file, field, message
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(p for p in (self.file, self.field) if p)
        return f"{where}: {self.message}" if where else self.message


class UnsupportedError(InputError):
    """The scenario asks for something the simulator cannot represent: refused, not approximated."""
