"""Reading YAML and JSON a user wrote (plans, knitenv, profiles), bounded and with one-line errors.

PyYAML and ``json`` trust their input: a 600-byte YAML of nested aliases ("billion laughs") expands into
hundreds of millions of nodes, and deep nesting ends in a ``RecursionError`` thousands of lines long. Here:

- aliases may add at most ``MAX_ALIAS_NODES`` nodes to a document (a recursive alias is refused);
- nesting may be at most ``MAX_DEPTH`` levels deep;
- a key repeated in one mapping is refused (PyYAML silently keeps the last);
- a syntax error is one line: ``SOURCE:LINE:COLUMN: not valid YAML: PROBLEM``.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from knit_provider.core.errors import InvalidInput, shown

MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "load_json", "load_yaml"]


class _Refused(yaml.YAMLError):
    """A document this loader will not build; carries the mark where it was noticed."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with a depth bound, an alias expansion bound and no repeated keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _check_alias_expansion(node)
        return node


def _check_alias_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it by more than ``MAX_ALIAS_NODES`` nodes (or into a cycle)."""
    expanded: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded
    distinct: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            if expanded[key] - len(distinct) > MAX_ALIAS_NODES:
                raise _Refused(
                    f"aliases expand this document beyond {MAX_ALIAS_NODES} extra nodes; refused", node.start_mark
                )
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise _Refused("a recursive alias (a node that contains itself) is refused", node.start_mark)
        on_path.add(key)
        distinct.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in expanded)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:
            continue
        if duplicate:
            raise _Refused(f"duplicate key {shown(key)}", key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(source: str, mark: yaml.Mark | None) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def load_yaml(text: str, *, source: str) -> Any:
    """One YAML document, bounded; ``source`` (a file name, ``plan``) starts every error message."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        problem = _one_line(exc.problem or exc.context or "syntax error")
        if exc.context and exc.problem and exc.context_mark is not None:
            mark = exc.context_mark
            problem += f" ({_one_line(exc.context)} at line {mark.line + 1}, column {mark.column + 1})"
        where = _where(source, exc.problem_mark or exc.context_mark)
        raise InvalidInput(f"{where}: not valid YAML: {problem}") from None
    except _Refused as exc:
        raise InvalidInput(f"{_where(source, exc.problem_mark)}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {_one_line(shown(str(exc)))}") from None


def load_json(text: str | bytes, *, source: str) -> Any:
    """One JSON document, at most ``MAX_DEPTH`` levels deep; errors as ``SOURCE:LINE:COLUMN: ...``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{source}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}") from None
    except RecursionError:
        raise InvalidInput(f"{source}: not valid JSON: nested deeper than {MAX_DEPTH} levels") from None
    _check_depth(data, source)
    return data


def _check_depth(data: Any, source: str) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{source}: not valid JSON: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
