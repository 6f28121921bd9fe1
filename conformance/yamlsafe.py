"""YAML documents read within bounds: the file's size, and the number of nodes once aliases are expanded.

PyYAML shares an aliased node rather than copying it, so a few hundred bytes of nested aliases (an "alias
bomb") load quickly into a graph whose expansion has billions of nodes; whatever walks it afterwards (a schema
validator, an error message quoting it) does not end. Here the node graph is composed first (libyaml's parser
when PyYAML has it), its expanded size counted without expanding it, and only a bounded document is built.
Errors are one line, and quote no value of the document (a config may sit beside secrets).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlError", "read_yaml"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it: ten times faster
_QUOTED = re.compile(r"'[^']{4,}'|\"[^\"]{4,}\"")


class YamlError(Exception):
    """A document that cannot be read, is too large, or is not valid YAML; the message is one line."""


def read_yaml(path: str | Path, what: str, *, max_bytes: int, max_nodes: int) -> Any:
    """The YAML document at `path` (`what` names it in errors): at most `max_bytes` bytes, at most `max_nodes`
    nodes with every alias expanded. Raises YamlError (OSError and UnicodeDecodeError are left to the caller)."""
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise YamlError(f"{what} is larger than {max_bytes} bytes")
    text = raw.decode("utf-8")
    loader = _LOADER(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise YamlError(f"{what} is not valid YAML: {_problem(exc)}") from None
        if node is None:
            return None
        size = expanded_size(node, max_nodes)
        if size > max_nodes:
            raise YamlError(f"{what}: its aliases expand to more than {max_nodes} nodes (an alias bomb?)")
        try:
            return loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise YamlError(f"{what} is not valid YAML: {_problem(exc)}") from None
        except RecursionError:
            raise YamlError(f"{what} is nested too deeply") from None
    finally:
        loader.dispose()


def expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes `root` has with every alias expanded (each shared node counted each time it is reached),
    computed once per distinct node; past `limit` (a recursive alias included) it is `limit + 1`."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes on the current path: reaching one again is a recursive alias
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if children_done:
            open_.discard(id(node))
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_:
            return limit + 1
        open_.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without the document's own text (longer quoted values are elided)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        text = f"{exc.context + ': ' if exc.context else ''}{exc.problem or 'invalid'}{where}"
    else:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _QUOTED.sub("'...'", " ".join(text.split()))
