"""Reading YAML/JSON files: one or many documents, errors with line and column, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lwssim.errors import InputError
from lwssim.manifests.where import Where


def read_text(path: Path, shown: str, referenced_by: Where | None = None) -> str:
    """The file's text. A missing file is reported at the field that names it (``referenced_by``)."""
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError) as exc:
        what = "does not exist" if isinstance(exc, FileNotFoundError) else "is a directory, not a file"
        if referenced_by is not None:
            raise referenced_by.error(f"file {shown} {what}") from None
        raise InputError(shown, "", f"file {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(shown, "", f"cannot read: {exc}") from None


def parse_documents(text: str, shown: str) -> list[Any]:
    """All documents of a multi-document YAML (JSON is YAML); empty documents skipped.

    PyYAML's safe loader follows YAML 1.1 like sigs.k8s.io/yaml (go-yaml v2), so ``yes``/``on``
    read as booleans exactly as kubectl reads them.
    """
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "malformed YAML"
        raise InputError(shown, "", f"invalid YAML at {where}{problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(shown, "", f"invalid YAML: {exc}") from None


def load_documents(path: Path, shown: str, referenced_by: Where | None = None) -> list[Any]:
    return parse_documents(read_text(path, shown, referenced_by), shown)
