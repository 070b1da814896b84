"""The config reference for technicians, generated from the models (``docs/config.md``).

Every key, its type, default and description come from the same pydantic models that
validate the file, so the reference cannot drift from what the agent accepts.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from edge_agent.config.model import AgentConfig

HEADER = """# Configuration reference

One YAML file, by default `/etc/edge-agent/config.yaml`. Check it with
`edge-agent check-config FILE` (exit 0 when valid; otherwise every problem with its line).

- Any value may use `${ENV_VAR}` or `${ENV_VAR:-default}`.
- A secret field `X` may instead be given as `X_file: PATH`; a relative PATH is looked up in
  systemd's `$CREDENTIALS_DIRECTORY` first (`LoadCredential=`).
- Unknown keys are errors (with a "did you mean").
- Every number has a range (in its type column); `.inf` and `.nan` are refused. What
  check-config accepts, the agent runs.

This page is generated from the code: `edge-agent schema --markdown > docs/config.md`.
"""


def render_reference() -> str:
    out = [HEADER]
    _render_model(AgentConfig, "", out, set())
    return "\n".join(out).rstrip() + "\n"


def _render_model(model: type[BaseModel], path: str, out: list[str],
                  seen: set[str]) -> None:
    nested: list[tuple[str, type[BaseModel]]] = []
    rows = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        models = _models_in(field.annotation)
        is_list = typing.get_origin(field.annotation) is list
        rows.append(f"| `{name}` | {_type_name(field.annotation)}{_range(field)} | "
                    f"{_default(field)} | "
                    f"{_escape(field.description or '')} |")
        for sub in models:
            tag = _literal_tag(sub)
            sub_path = f"{key}[]" if is_list else key
            if tag:
                sub_path += f" ({tag})"
            nested.append((sub_path, sub))
    title = path or "top level"
    out.append(f"## `{title}`\n")
    if model.__doc__ and model is not AgentConfig and not model.__doc__.startswith(
            ("A base", "Usage docs")):
        out.append(_escape(model.__doc__.strip().splitlines()[0]) + "\n")
    out.append("| key | type | default | meaning |")
    out.append("|---|---|---|---|")
    out.extend(rows)
    out.append("")
    for sub_path, sub in nested:
        if sub_path not in seen:
            seen.add(sub_path)
            _render_model(sub, sub_path, out, seen)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _literal_tag(model: type[BaseModel]) -> str | None:
    for name in ("driver", "probe", "kind", "type"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            return f"{name}: {typing.get_args(field.annotation)[0]}"
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        names = list(dict.fromkeys(_type_name(a) for a in typing.get_args(annotation)
                                   if a is not type(None)))
        optional = type(None) in typing.get_args(annotation)
        return " or ".join(names) + (" (optional)" if optional else "")
    if origin is list:
        args = typing.get_args(annotation)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        tag = _literal_tag(annotation)
        return f"section ({tag})" if tag else "section (below)"
    if isinstance(annotation, type):
        return {"str": "text", "int": "integer", "float": "number", "bool": "true/false",
                "Path": "path", "SecretStr": "secret", "time": "time HH:MM",
                "date": "date YYYY-MM-DD"}.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _range(field: FieldInfo) -> str:
    """' (0 < x ≤ 1000000)' from the field's bounds; '' for a field without any."""
    bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in field.metadata
              if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")}
    if not bounds:
        return ""
    low = f"{bounds['Ge']} ≤ " if "Ge" in bounds else f"{bounds['Gt']} < " \
        if "Gt" in bounds else ""
    high = f" ≤ {bounds['Le']}" if "Le" in bounds else f" < {bounds['Lt']}" \
        if "Lt" in bounds else ""
    return f" ({low}x{high})"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(see below)"
        if isinstance(value, BaseModel):
            return "(see below)"
        return f"`{value!r}`" if value not in ([], {}) else "empty"
    if field.default is PydanticUndefined or field.default is None:
        return "none"
    value = field.default
    if hasattr(value, "value"):
        value = value.value
    return f"`{value}`"


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
