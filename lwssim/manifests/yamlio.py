"""Reading YAML/JSON files: one or many documents, errors with line and column, never a traceback.

Files are read as kubectl reads them (sigs.k8s.io/yaml: YAML 1.1 to JSON, strict decoding): a duplicate
key is an error, timestamps stay strings, and only JSON values load (no ``.inf``/``.nan``, no
``!!binary``/``!!set``, integers within 64 bits). The size limits of lwssim/manifests/limits.py are
checked on the parser's event stream before any object is built, so neither a huge file nor an alias
bomb ("billion laughs") nor deep nesting gets to allocate or recurse.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from lwssim.errors import InputError
from lwssim.manifests.limits import MAX_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from lwssim.manifests.where import Where

# libyaml's parser when PyYAML was built with it (about 2.5x faster), else PyYAML's own; same results.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_TAG = "tag:yaml.org,2002:merge"
INT64 = 2**63


class _KubeLoader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader, strict where kubectl is strict and JSON-only where Kubernetes is."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], yaml.Mark] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
                continue
            first = seen.setdefault((key.tag, key.value), key.start_mark)
            if first is not key.start_mark:
                raise ConstructorError(
                    None,
                    None,
                    f'duplicate key "{key.value}" (first at line {first.line + 1}); '
                    "kubectl's strict decoding refuses it too",
                    key.start_mark,
                )
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            value = super().construct_yaml_int(node)
        except ValueError:  # more digits than Python converts
            value = INT64
        if not -INT64 <= value < INT64:
            raise ConstructorError(None, None, "integer beyond 64 bits", node.start_mark)
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise ConstructorError(None, None, f"{node.value} is not a finite number", node.start_mark)
        return value

    def refuse_tag(self, node: yaml.Node) -> Any:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConstructorError(None, None, f"{tag} values are not JSON; not accepted", node.start_mark)


_KubeLoader.add_constructor("tag:yaml.org,2002:int", _KubeLoader.construct_yaml_int)
_KubeLoader.add_constructor("tag:yaml.org,2002:float", _KubeLoader.construct_yaml_float)
_KubeLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
for _tag in ("binary", "set", "omap", "pairs"):
    _KubeLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _KubeLoader.refuse_tag)


def read_text(path: Path, shown: str, referenced_by: Where | None = None) -> str:
    """The file's text. A missing file is reported at the field that names it (``referenced_by``)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            limit = f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES / 2**20:g} MiB)"
            raise InputError(shown, "", f"file is larger than lwssim's limit of {limit}")
        return data.decode("utf-8")
    except (FileNotFoundError, IsADirectoryError) as exc:
        what = "does not exist" if isinstance(exc, FileNotFoundError) else "is a directory, not a file"
        if referenced_by is not None:
            raise referenced_by.error(f"file {shown} {what}") from None
        raise InputError(shown, "", f"file {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(shown, "", f"cannot read: {exc}") from None


def check_shape(text: str) -> None:
    """Refuse nesting deeper than MAX_YAML_DEPTH, more than MAX_YAML_NODES nodes once aliases are
    expanded, and aliases to a node that contains them, reading parser events only (nothing is built).
    """
    sizes: dict[str, int | None] = {}  # anchor -> expanded node count; None while its node is open
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, node count when it opened)
    total = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.DocumentStartEvent):
            sizes.clear()  # anchors are per document
        elif isinstance(event, yaml.AliasEvent):
            size = sizes.get(event.anchor, 0)
            if size is None:
                raise _refused(event, f"alias *{event.anchor} refers to a node that contains it")
            total += size
        elif isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            total += 1
            if isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append((event.anchor, total - 1))
                if len(open_nodes) > MAX_YAML_DEPTH:
                    raise _refused(event, f"nested more than lwssim's limit of {MAX_YAML_DEPTH} levels")
            if event.anchor is not None:
                sizes[event.anchor] = 1 if isinstance(event, yaml.ScalarEvent) else None
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = total - start
        if total > MAX_YAML_NODES:
            limit = f"lwssim's limit of {MAX_YAML_NODES:,} values"
            raise _refused(event, f"more than {limit}, counting what aliases expand to")


def _refused(event: yaml.Event, problem: str) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(problem=problem, problem_mark=event.start_mark)


def _place(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def parse_documents(text: str, shown: str) -> list[Any]:
    """All documents of a multi-document YAML (JSON is YAML); empty documents skipped.

    PyYAML's safe loader follows YAML 1.1 like sigs.k8s.io/yaml (go-yaml v2), so ``yes``/``on``
    read as booleans exactly as kubectl reads them.
    """
    try:
        check_shape(text)
        return [d for d in yaml.load_all(text, Loader=_KubeLoader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        problem, mark = exc.problem or exc.context or "malformed YAML", exc.problem_mark or exc.context_mark
        if mark is None:
            where = ""
        elif mark.index >= len(text):  # libyaml marks the end of a file on the line after it
            where = " at the end of the file"
            problem += f" ({exc.context} at {_place(exc.context_mark)})" if exc.context_mark else ""
        else:
            where = f" at {_place(mark)}"
        raise InputError(shown, "", f"invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(shown, "", f"invalid YAML: {exc}") from None


def load_documents(path: Path, shown: str, referenced_by: Where | None = None) -> list[Any]:
    return parse_documents(read_text(path, shown, referenced_by), shown)
