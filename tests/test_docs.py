"""The generated docs match the code: a technician reads docs/config.md, not the models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from contract import TOPICS, payload_schemas
from contract.reference import BEGIN, splice_payload_reference
from edge_agent.config.reference import render_reference

ROOT = Path(__file__).resolve().parent.parent


def test_config_reference_is_up_to_date() -> None:
    current = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert current == render_reference(), (
        "docs/config.md is stale: run `edge-agent schema --markdown -o docs/config.md`")


def test_config_reference_lists_every_section() -> None:
    text = render_reference()
    for heading in ("## `gateway`", "## `mqtt.tls`", "## `lighting`", "## `cameras[]`",
                    "## `hotspots[]`", "## `http`"):
        assert heading in text


def test_payload_schemas_cover_every_published_topic() -> None:
    out = subprocess.run([sys.executable, "-m", "edge_agent", "schema", "--payloads"],
                         capture_output=True, text=True, check=True).stdout
    schemas = json.loads(out)
    for topic in ("status", "health", "cmd/{path}/result", "outbox/dropped",
                  "light/{circuit}/state", "camera/{camera}/status", "camera/{camera}/motion",
                  "hotspot/{hotspot}/state", "cmd/light/{circuit}/override"):
        assert topic in schemas, topic
        assert schemas[topic]["type"] == "object"
    assert schemas == payload_schemas()


def test_mqtt_payload_reference_is_up_to_date() -> None:
    current = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    assert current == splice_payload_reference(current) and BEGIN in current, (
        "docs/mqtt.md is stale: run `edge-agent schema --payloads --markdown -o docs/mqtt.md`")


def test_mqtt_doc_names_every_topic() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    for spec in TOPICS:
        assert f"`{spec.pattern}`" in text, spec.pattern
