"""Loading YAML config files into pydantic models with errors that name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file that cannot be used. ``problems`` holds one line per fault."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


Loc = tuple[Any, ...]


@dataclass(frozen=True)
class Document:
    """A parsed file as a check beyond the model sees it: the data, the raw lines (comments included) and the line
    each field is on."""

    data: dict[str, Any]
    text_lines: list[str]
    lines: dict[Loc, int]

    def line_of(self, loc: Loc) -> int | None:
        return _nearest_line(self.lines, loc)


# A check beyond the model: (location, message) per problem, reported like the model's own.
Check = Callable[[Document], list[tuple[Loc, str]]]


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)


def _file_path(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location as the file spells it: pydantic puts union tags (e.g. "simulated") into the path."""
    path: tuple[Any, ...] = ()
    for part in loc:
        if (*path, part) in lines:
            path = (*path, part)
    return path


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    return lines.get(_file_path(lines, loc))


def load_yaml_model(path: Path | str, model: type[M], checks: Sequence[Check] = ()) -> M:
    """Parse and validate ``path``; raise ConfigError listing every problem with its line and field.

    ``checks`` run on the file as written, after the model and even if it failed, so one run reports everything.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    return parse_yaml_model(text, model, source=path, checks=checks)


def _problem(lines: dict[Loc, int], loc: Loc, msg: str) -> str:
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = _nearest_line(lines, loc)
    return f"{f'line {line}: ' if line else ''}{field}: {msg}"


def parse_yaml_model(text: str, model: type[M], source: Path | str = "<string>", checks: Sequence[Check] = ()) -> M:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(source, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["line 1: the file must be a mapping of settings"])
    lines: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _line_index(root, (), lines)
    problems: list[str] = []
    result: M | None = None
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(lines, tuple(err["loc"]), err["msg"]) for err in exc.errors()]
    doc = Document(data, text.splitlines(), lines)
    for check in checks:
        problems += [_problem(lines, loc, msg) for loc, msg in check(doc)]
    if problems or result is None:
        raise ConfigError(source, problems)
    return result
