"""The config reference of docs/control-room.md, rendered from the config models
(``control-room schema --markdown``; a test keeps the document current)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from control_room.config import ControlRoomConfig

BEGIN = "<!-- BEGIN generated config reference: control-room schema --markdown -->"
END = "<!-- END generated config reference -->"


def render() -> str:
    lines = [BEGIN, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    lines += _rows(ControlRoomConfig, "")
    return "\n".join([*lines, "", END])


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append(f"| `{key}` | section | | {_text(info.description)} |")
            rows += _rows(annotation, key + ".")
            continue
        rows.append(f"| `{key}` | {_type(annotation)} | {_default(info)} | "
                    f"{_text(info.description)} |")
        if "SecretStr" in str(annotation):
            rows.append(f"| `{key}_file` | path | | the same, read from a file (relative: "
                        "from `$CREDENTIALS_DIRECTORY`) |")
    return rows


def _type(annotation: Any) -> str:
    if "SecretStr" in str(annotation):
        return "secret"
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    text = text.replace("typing.", "").replace("pathlib.", "").replace(" | None", "")
    return text.replace("|", "\\|")


def _default(info: Any) -> str:
    if info.default_factory is not None:
        return "(computed)" if info.annotation is str else ""
    if info.default is PydanticUndefined:
        return "required"
    return f"`{info.default}`" if info.default is not None else "-"


def _text(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def splice(document: str) -> str:
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        return head + render() + rest.split(END, 1)[1]
    return document.rstrip("\n") + "\n\n" + render() + "\n"
