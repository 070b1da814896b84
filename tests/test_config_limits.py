"""What check-config accepts must start: finite, bounded numbers, valid hosts; and every
error, even for NUL bytes or non-UTF-8 files, has a line and a column.

The property test builds the configs check-config accepts and runs the real Agent on them
in-process for a moment (no broker: the link just retries; the camera points at a closed
port), asserting that no component fails.
"""

from __future__ import annotations

import asyncio
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.agent import Agent
from edge_agent.config import ConfigError, LoadedConfig, load_config
from edge_agent.config.model import AgentConfig

HEAD = "gateway:\n  id: gw1\n  site: s1\n"
CAMERA = "cameras:\n  - id: cam\n    url: rtsp://127.0.0.1:1/x\n"

# (name, text, line, path, words): each used to pass check-config and then crash at run time
CRASHED_AT_RUN_TIME: list[tuple[str, str, int, str, str]] = [
    ("outbox-inf", HEAD + "storage:\n  outbox_max_mb: .inf\n", 5, "storage.outbox_max_mb",
     "finite number"),
    ("outbox-1e308", HEAD + "storage:\n  outbox_max_mb: 1e308\n", 5,
     "storage.outbox_max_mb", "less than or equal to 1000000"),
    ("outbox-nan", HEAD + "storage:\n  outbox_max_mb: .nan\n", 5, "storage.outbox_max_mb",
     "finite number"),
    ("quota-inf", HEAD + CAMERA + "    media:\n      quota_mb: .inf\n", 8,
     "cameras[0].media.quota_mb", "finite number"),
    ("min-free-inf", HEAD + CAMERA + "    media:\n      min_free_mb: .inf\n", 8,
     "cameras[0].media.min_free_mb", "finite number"),
    ("max-age-huge", HEAD + CAMERA + "    media:\n      max_age_days: 1e300\n", 8,
     "cameras[0].media.max_age_days", "less than or equal to 3650"),
    ("bind-unclosed-bracket", HEAD + "http:\n  bind: '[::1'\n", 5, "http.bind",
     "without brackets"),
    ("bind-garbage", HEAD + "http:\n  bind: 'not a host!'\n", 5, "http.bind",
     "not an IP address or host name"),
    ("health-interval-inf", HEAD + "health:\n  interval_s: .inf\n", 5, "health.interval_s",
     "finite number"),
    ("zone-point-nan", HEAD + CAMERA + "    zones:\n      - name: z\n        polygon: "
     "[[0, 0], [.nan, 1], [1, 1]]\n", 9, "cameras[0].zones[0].polygon[1][0]",
     "finite number"),
]


@pytest.mark.parametrize(("name", "text", "line", "path", "words"), CRASHED_AT_RUN_TIME,
                         ids=[c[0] for c in CRASHED_AT_RUN_TIME])
def test_values_that_crashed_at_run_time_are_refused_with_their_line(
        tmp_path: Path, name: str, text: str, line: int, path: str, words: str) -> None:
    file = tmp_path / f"{name}.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    problems = caught.value.problems
    assert len(problems) == 1, str(caught.value)
    assert (problems[0].line, problems[0].path) == (line, path), str(caught.value)
    assert problems[0].column and words in problems[0].message, str(caught.value)


def test_check_config_refuses_inf_in_one_line_without_traceback(tmp_path: Path) -> None:
    file = tmp_path / "inf.yaml"
    file.write_text(HEAD + "storage:\n  outbox_max_mb: .inf\n")
    result = subprocess.run([sys.executable, "-m", "edge_agent", "check-config", str(file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{file}:5:3 storage.outbox_max_mb: Input should be a finite number" \
        in result.stderr
    assert "Traceback" not in result.stderr


def _numeric_leaves(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every number/integer in the config's JSON Schema, with its path."""
    defs = schema.get("$defs", {})
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: dict[str, Any], path: str, seen: frozenset[str]) -> None:
        if "$ref" in node:
            name = node["$ref"].split("/")[-1]
            if name not in seen:
                walk(defs[name], path, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key, []):
                walk(sub, path, seen)
        if node.get("type") in ("number", "integer"):
            found.append((path, node))
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{key}", seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", seen)
        for sub in node.get("prefixItems", []):
            walk(sub, f"{path}()", seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}", seen)

    walk(schema, "", frozenset())
    return found


def test_every_numeric_field_has_a_finite_range() -> None:
    leaves = _numeric_leaves(AgentConfig.model_json_schema())
    assert len(leaves) > 80, "the walk found the config's numbers"
    unbounded = [path for path, node in leaves
                 if not ({"minimum", "exclusiveMinimum"} & set(node) and
                         {"maximum", "exclusiveMaximum"} & set(node))]
    assert unbounded == [], f"numeric fields without a lower and an upper bound: {unbounded}"


def _corrupt(rng: random.Random, good: bytes) -> bytes:
    data = bytearray(good)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(data) + 1)
        junk = rng.choice([b"\x00", b"\x07", b"\x1b", b"\x7f", b"\xff", b"\xc3", b"\xed\xa0\x80",
                           bytes([rng.randrange(256)]), b"\x00\x00", b"\t\x01", b"\x85"])
        data[at:at] = junk
    return bytes(data)


def test_nul_control_and_non_utf8_bytes_get_line_and_column(tmp_path: Path) -> None:
    good = (Path(__file__).resolve().parent.parent / "config" / "demo.yaml").read_bytes()
    rng = random.Random(8)
    refused = without_line = 0
    for index in range(500):
        file = tmp_path / f"fuzz{index}.yaml"
        file.write_bytes(_corrupt(rng, good))
        try:
            load_config(file)
        except ConfigError as exc:
            refused += 1
            if any(p.line is None or p.column is None for p in exc.problems):
                without_line += 1
                print(exc)
        except Exception as exc:  # a crash is worse than a missing line
            raise AssertionError(f"fuzz{index}: {type(exc).__name__}: {exc}") from exc
    assert refused > 250, "most corruptions are refused"
    assert without_line == 0, f"{without_line} of {refused} errors had no line"


def test_a_nul_byte_names_its_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "nul.yaml"
    file.write_bytes(HEAD.encode() + b"mqtt:\n  url: mqtt://x\x00y\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert f"{file}:5:16" in str(caught.value) and "U+0000" in str(caught.value)
    file.write_bytes(HEAD.encode() + b"mqtt:\n  url: mqtt://\xffx\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert f"{file}:5:15" in str(caught.value) and "not UTF-8" in str(caught.value)


# -- property: what check-config accepts starts and runs --------------------------------

SECTIONS = ("mqtt.", "storage.", "health.", "http.", "cameras[].", "hotspots[].")
SKIPPED = ("http.port", "cameras[].zones", "cameras[].masks", "cameras[].arming",
           "hotspots[].probes", "lighting")
FUZZED = [(path, node) for path, node in _numeric_leaves(AgentConfig.model_json_schema())
          if path.lstrip(".").startswith(SECTIONS) and
          not path.lstrip(".").startswith(SKIPPED)]


def _value(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value the field's declared range allows, biased to its ends; a field without an
    upper bound may get the largest float or infinity (what check-config used to accept)."""
    low = node.get("minimum", node.get("exclusiveMinimum", -1e308))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if node["type"] == "integer":
        low += int("exclusiveMinimum" in node)
        top = int(high) - int("exclusiveMaximum" in node) if high is not None else 10**30
        return st.one_of(st.sampled_from([int(low), top]), st.integers(int(low), top))
    if "exclusiveMinimum" in node:
        low = math.nextafter(low, math.inf)
    if "exclusiveMaximum" in node:
        high = math.nextafter(high, -math.inf)
    ends = [low, high] if high is not None else [low, 1e308, math.inf]
    inside = st.floats(low, high if high is not None else 1e308, allow_nan=False)
    return st.one_of(st.sampled_from(ends), inside)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {
        "gateway": {"id": "gw-prop", "site": "s", "clock_sync": "assume_synced"},
        "mqtt": {"url": "mqtt://127.0.0.1:1"},  # nothing listens: the link retries
        "storage": {}, "health": {},
        "http": {"enabled": True, "port": 0,
                 "bind": draw(st.sampled_from(["127.0.0.1", "::1", "::", "localhost"]))},
        "cameras": [{"id": "cam", "url": "rtsp://127.0.0.1:1/x"}],
        "hotspots": [{"id": "hs", "probes": [{"probe": "tcp", "host": "127.0.0.1",
                                             "port": 1, "count": 1}]}],
    }
    for path, node in FUZZED:  # each field: left at its default, or set
        if not draw(st.booleans()):
            continue
        parts = path.lstrip(".").replace("[]", "").split(".")
        target = config[parts[0]]
        target = target[0] if isinstance(target, list) else target
        for part in parts[1:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = draw(_value(node))
    return config


async def _run_briefly(loaded: LoadedConfig, seconds: float) -> dict[str, Any]:
    agent = Agent(loaded)
    runner = asyncio.create_task(agent.run())
    await asyncio.sleep(seconds)
    agent.request_stop()
    await asyncio.wait_for(runner, 30)
    return {name: (s.state, s.restarts, s.last_error) for name, s in agent.components.items()}


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=configs())
def test_configs_check_config_accepts_run_without_a_component_failure(
        tmp_path: Path, data: dict[str, Any]) -> None:
    data["storage"]["data_dir"] = str(tmp_path / f"data-{random.random()}")
    file = tmp_path / "prop.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        loaded = load_config(file)
    except ConfigError as exc:
        assert all(p.line for p in exc.problems), str(exc)
        return
    states = asyncio.run(_run_briefly(loaded, 1.5))
    assert {"health", "web", "camera:cam", "hotspots"} <= set(states), states
    failed = {name: s for name, s in states.items() if s[1] or s[0] == "failed"}
    assert failed == {}, f"{failed} with {file.read_text()}"
