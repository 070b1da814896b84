"""Load a YAML file into a pydantic model with positions, so every error can say
file:line:col, the path and "did you mean".

Shared by the edge agent and the control room (one loader, two config models). All
problems are collected and reported at once as one readable block (``ConfigError``);
nothing here prints a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None  # 1-based
    column: int | None
    path: str
    message: str


class ConfigError(Exception):
    """The config file is unusable; ``str()`` is the readable block for a technician."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        lines = [f"{self.file}: {count} problem{'s' if count != 1 else ''} in the config"]
        for p in self.problems:
            where = f"{self.file}:{p.line}:{p.column}" if p.line else self.file
            path = f" {p.path}:" if p.path else ""
            lines.append(f"  {where}{path} {p.message}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Loaded(Generic[M]):
    config: M
    path: Path
    digest: str  # sha256 of the file text, short; reported in the birth message


def load_file(path: str | Path, model: type[M], empty_hint: str = "") -> Loaded[M]:
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        problem = Problem(None, None, "", f"cannot read: {exc.strerror}")
        raise ConfigError(str(file), [problem]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        problem = Problem(line, col, "", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} "
                                         f"(save the file as UTF-8)")
        raise ConfigError(str(file), [problem]) from None
    config = parse_text(text, model, str(file), empty_hint)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Loaded(config=config, path=file, digest=digest)


def parse_text(text: str, model: type[M], file: str = "<config>", empty_hint: str = "") -> M:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:  # NUL, control characters: only an offset given
        at_line, at_col = _line_col(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        reason = f"control character U+{code:04X} is not allowed (remove it)"
        raise ConfigError(file, [Problem(at_line, at_col, "", f"YAML syntax error: {reason}")]) \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError(file, [Problem(line, col, "", f"YAML syntax error: {reason}")]) from None
    if root is None:
        raise ConfigError(file, [Problem(1, 1, "", "the file is empty; expected a mapping"
                                                   + (f" with at least {empty_hint}"
                                                      if empty_hint else ""))])
    builder = _Builder()
    data = builder.build(root, ())
    if not isinstance(data, dict):
        raise ConfigError(file, [Problem(1, 1, "", "expected a mapping at the top level")])
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        found = {p.path for p in builder.problems}
        extra = [p for p in _explain(exc, builder.marks, data, model) if p.path not in found]
        problems = sorted(builder.problems + extra, key=lambda p: (p.line or 0, p.column or 0))
        raise ConfigError(file, problems) from None
    if builder.problems:
        raise ConfigError(file, builder.problems)
    return config


def _line_col(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a character (or byte) offset."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if isinstance(text, str):  # count in characters, as YAML's reader does
        offset = len(text[:offset].encode("utf-8", "surrogatepass"))
    before = data[:offset]
    line_start = before.rfind(b"\n") + 1
    return before.count(b"\n") + 1, len(data[line_start:offset].decode("utf-8", "replace")) + 1


class _Builder:
    """YAML nodes → plain data, remembering where each path came from."""

    def __init__(self) -> None:
        self.marks: dict[Loc, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self._scalar_loader = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            self._scalar_loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                # the key as written: YAML 1.1 would turn 'on:'/'off:' keys into booleans
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else \
                    str(self._scalar_loader.construct_object(key_node))
                if key in result:
                    self._add(key_node, loc + (key,), "duplicate key (the later one would win)")
                self.marks[loc + (key,)] = (key_node.start_mark.line + 1,
                                            key_node.start_mark.column + 1)
                result[key] = self.build(value_node, loc + (key,))
                self.marks[loc + (key,)] = (key_node.start_mark.line + 1,
                                            key_node.start_mark.column + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        value = self._scalar_loader.construct_object(node)
        if isinstance(value, str) and "${" in value:
            value = self._substitute(value, node, loc)
        return value

    def _substitute(self, value: str, node: yaml.Node, loc: Loc) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            self._add(node, loc, f"environment variable ${{{name}}} is not set "
                                 f"(set it, or write ${{{name}:-default}})")
            return ""

        return _ENV_RE.sub(replace, value)

    def _add(self, node: yaml.Node, loc: Loc, message: str) -> None:
        self.problems.append(Problem(node.start_mark.line + 1, node.start_mark.column + 1,
                                     format_loc(loc), message))


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _explain(exc: ValidationError, marks: dict[Loc, tuple[int, int]],
             data: dict[str, Any], model: type[BaseModel]) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _data_loc(tuple(err["loc"]), data)
        line, col = _nearest_mark(loc, marks)
        problems.append(Problem(line, col, format_loc(loc), _message(err, loc, model)))
    problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    return problems


def _data_loc(loc: Loc, data: Any) -> Loc:
    """Drop the segments pydantic adds that are not in the file (union tags, 'function-...')."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            out.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part in node.values():
            continue  # a discriminated union's tag (e.g. 'tcp' for probe: tcp), not a key
        elif isinstance(node, dict | list):
            if isinstance(part, str) and not _looks_internal(part) and isinstance(node, dict):
                out.append(part)  # a missing or unknown key: keep it, it names the problem
                node = None
        else:
            continue
    return tuple(out)


def _looks_internal(part: str) -> bool:
    return "[" in part or part.startswith(("function-", "tagged-union", "list[", "dict["))


def _nearest_mark(loc: Loc, marks: dict[Loc, tuple[int, int]]) -> tuple[int | None, int | None]:
    if loc and isinstance(loc[-1], str) and loc[:-1] + (f"{loc[-1]}_file",) in marks:
        return marks[loc[:-1] + (f"{loc[-1]}_file",)]  # a secret given as <name>_file
    for end in range(len(loc), -1, -1):
        if loc[:end] in marks:
            return marks[loc[:end]]
    return None, None


def _message(err: Any, loc: Loc, model: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        hint = _did_you_mean(name, loc[:-1], model)
        return f"unknown key '{name}'{hint}"
    if kind == "missing":
        return "required, but missing"
    got = err.get("input")
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("union_tag_invalid", "literal_error", "enum"):
        return f"{msg} (got {got!r})"
    if isinstance(got, dict | list) or (isinstance(got, str) and got and got in msg):
        return msg
    return f"{msg} (got {got!r})"


def _did_you_mean(name: str, parent: Loc, model: type[BaseModel]) -> str:
    fields = _fields_at(model, parent)
    if not fields:
        return ""
    close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
    if close:
        return f" — did you mean '{close[0]}'?"
    return f" (expected one of: {', '.join(sorted(fields))})"


def _fields_at(model: Any, loc: Loc) -> set[str]:
    """The keys allowed at ``loc``, following lists and unions of models."""
    candidates: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for cand in candidates:
            for inner in _unwrap(cand):
                if isinstance(part, int):
                    if typing.get_origin(inner) in (list, tuple, set):
                        nxt.extend(typing.get_args(inner)[:1])
                    elif typing.get_origin(inner) is dict:
                        nxt.extend(typing.get_args(inner)[1:2])
                elif isinstance(inner, type) and issubclass(inner, BaseModel):
                    field = inner.model_fields.get(part)
                    if field is not None:
                        nxt.append(field.annotation)
                elif typing.get_origin(inner) is dict:
                    nxt.extend(typing.get_args(inner)[1:2])
        candidates = nxt
    names: set[str] = set()
    for cand in candidates:
        for inner in _unwrap(cand):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names.update(inner.model_fields)
    return names


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]
