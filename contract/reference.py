"""The payload half of ``docs/mqtt.md``, rendered from the topic table and its models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from contract.envelope import Envelope
from contract.topics import COMMANDS, TOPICS

BEGIN = "<!-- BEGIN generated payload reference: edge-agent schema --payloads --markdown -->"
END = "<!-- END generated payload reference -->"


def render_payload_reference() -> str:
    lines = [BEGIN, "", "### Topic table", "",
             "| topic | retained | class | seq | payload |", "|---|---|---|---|---|"]
    for spec in TOPICS:
        seq = "yes" if spec.durable and spec.model is not None else "no"
        model = spec.model.__name__ if spec.model else "raw bytes"
        lines.append(f"| `{spec.pattern}` | {'yes' if spec.retained else 'no'} | "
                     f"{spec.message_class} | {seq} | {model}: {spec.summary} |")
    lines += ["", "### Commands", "", "| command topic | request fields | what it does |",
              "|---|---|---|"]
    for command in COMMANDS:
        fields = ", ".join(f"`{name}`" for name in command.request.model_fields) or "(none)"
        lines.append(f"| `cmd/{command.path}` | {fields} | {command.summary} |")
    lines += ["", "### Envelope fields", "", *_field_table(Envelope)]
    seen: set[str] = set()
    for spec in TOPICS:
        if spec.model is not None and spec.model.__name__ not in seen:
            seen.add(spec.model.__name__)
            lines += ["", f"### `{spec.pattern}` ({spec.model.__name__})", "",
                      *_field_table(spec.model)]
    for command in COMMANDS:
        if command.request.model_fields and command.request.__name__ not in seen:
            seen.add(command.request.__name__)
            lines += ["", f"### `cmd/{command.path}` ({command.request.__name__})", "",
                      *_field_table(command.request)]
    return "\n".join([*lines, "", END])


def _field_table(model: type[BaseModel]) -> list[str]:
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        kind = _type_name(info.annotation)
        required = "yes" if info.is_required() else "no"
        text = (info.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {kind} | {required} | {text} |")
    return rows


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "")
    return text.replace("|", "\\|").replace("contract.", "")


def splice_payload_reference(document: str) -> str:
    """``document`` with its generated section (between the markers) rendered afresh;
    the section is appended when the document has none yet."""
    section = render_payload_reference()
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        return head + section + rest.split(END, 1)[1]
    return document.rstrip("\n") + "\n\n" + section + "\n"
