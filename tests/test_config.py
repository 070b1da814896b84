"""Config loading: bad files give one clear block with file:line:col, good ones load fully."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import ConfigError, load_config, redacted_dump

ROOT = Path(__file__).resolve().parent.parent
GOOD_HEAD = "gateway:\n  id: gw1\n  site: s1\n"

# (name, file text, [(line, path, words the message must contain)], ...)
BAD_FILES: list[tuple[str, str, list[tuple[int, str, tuple[str, ...]]]]] = [
    ("yaml-syntax", "gateway:\n  id: gw1\n   site: s1\nmqtt: {}\n",
     [(3, "", ("YAML syntax error", "mapping values are not allowed"))]),
    ("yaml-unclosed", "gateway:\n  id: gw1\n  site: [s1\n",
     [(4, "", ("YAML syntax error", "expected ','"))]),
    ("unknown-key", GOOD_HEAD + "mqtt:\n  url: mqtt://127.0.0.1\n  keepalive: 30\n",
     [(6, "mqtt.keepalive", ("unknown key 'keepalive'", "did you mean 'keepalive_s'?"))]),
    ("unknown-section", GOOD_HEAD + "camera:\n  - id: c1\n",
     [(4, "camera", ("unknown key 'camera'", "did you mean 'cameras'?"))]),
    ("wrong-type", GOOD_HEAD + "storage:\n  outbox_max_mb: lots\n",
     [(5, "storage.outbox_max_mb", ("valid number", "'lots'"))]),
    ("wrong-literal", GOOD_HEAD + "mqtt:\n  protocol: 4\n",
     [(5, "mqtt.protocol", ("'5' or '3.1.1'", "got 4"))]),
    ("bad-url", GOOD_HEAD + "mqtt:\n  url: http://broker\n",
     [(5, "mqtt.url", ("mqtt://host[:port]", "http://broker"))]),
    ("missing-required", "gateway:\n  site: s1\n",
     [(1, "gateway.id", ("required, but missing",))]),
    ("missing-section", "mqtt:\n  url: mqtt://127.0.0.1\n",
     [(1, "gateway", ("required, but missing",))]),
    ("bad-secret-file", GOOD_HEAD + "mqtt:\n  username: u\n  password_file: /nonexistent/pw\n",
     [(6, "mqtt.password", ("password_file", "/nonexistent/pw", "No such file"))]),
    ("empty-secret-file", GOOD_HEAD + "mqtt:\n  username: u\n  password_file: /dev/null\n",
     [(6, "mqtt.password", ("secret file /dev/null is empty",))]),
    ("secret-twice", GOOD_HEAD + "mqtt:\n  password: a\n  password_file: /etc/hostname\n",
     [(4, "mqtt", ("either 'password' or 'password_file'",))]),
    ("unset-env", GOOD_HEAD + "mqtt:\n  url: ${EDGE_TEST_UNSET_VAR}\n",
     [(5, "mqtt.url", ("${EDGE_TEST_UNSET_VAR} is not set", ":-default"))]),
    ("duplicate-key", GOOD_HEAD + "health:\n  interval_s: 10\n  interval_s: 20\n",
     [(6, "health.interval_s", ("duplicate key",))]),
    ("empty", "", [(1, "", ("empty",))]),
    ("several-at-once",
     "gateway:\n  id: 'bad id!'\n  site: s1\nmqtt:\n  keepalive_s: 1\n  urll: x\n",
     [(2, "gateway.id", ("should match pattern",)),
      (5, "mqtt.keepalive_s", ("greater than or equal to 5",)),
      (6, "mqtt.urll", ("did you mean 'url'?",))]),
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_one_clear_message_per_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str, text: str, expected: list[tuple[int, str, tuple[str, ...]]]) -> None:
    monkeypatch.delenv("EDGE_TEST_UNSET_VAR", raising=False)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert [(p.line, p.path) for p in problems] == [(line, p) for line, p, _ in expected]
    for problem, (_, _, words) in zip(problems, expected, strict=True):
        for word in words:
            assert word in problem.message, f"{word!r} not in {problem.message!r}"
        assert problem.column is not None and problem.column >= 1

    # the CLI prints exactly that block, one line per problem, and exits 1
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert lines[0].startswith(f"{path}: {len(expected)} problem")
    assert len(lines) == 1 + len(expected)
    for line_text, (line, _, _) in zip(lines[1:], expected, strict=True):
        assert line_text.strip().startswith(f"{path}:{line}:")
    assert "Traceback" not in out.err + out.out


def test_check_config_cli_exit_codes_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD_HEAD + "mqtt:\n  keepalive: 30\n")
    cli = [sys.executable, "-m", "edge_agent", "check-config"]
    result = subprocess.run([*cli, str(bad)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"{bad}:5:3 mqtt.keepalive: unknown key 'keepalive'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = subprocess.run([*cli, str(tmp_path / "nope.yaml")], capture_output=True,
                             text=True, timeout=30)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    good = subprocess.run([*cli, str(ROOT / "config" / "demo.yaml")], capture_output=True,
                          text=True, timeout=30)
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout


def test_schema_command_prints_valid_json_schema() -> None:
    result = subprocess.run([sys.executable, "-m", "edge_agent", "schema"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert {"gateway", "mqtt", "storage", "health"} <= set(schema["properties"])
    assert schema["required"] == ["gateway"]
    mqtt = schema["$defs"]["MqttConfig"]["properties"]
    assert mqtt["protocol"]["enum"] == ["5", "3.1.1"]
    for model in ("GatewayConfig", "MqttConfig", "TlsConfig", "StorageConfig", "HealthConfig"):
        for field, spec in schema["$defs"][model]["properties"].items():
            assert spec.get("description"), f"{model}.{field} has no description"


def test_env_substitution_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_TEST_URL", "mqtts://broker.example:8884")
    monkeypatch.setenv("EDGE_TEST_SITE", "xuan-truong")
    monkeypatch.delenv("EDGE_TEST_UNSET_VAR", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("gateway:\n  id: gw-${EDGE_TEST_SITE}\n  site: ${EDGE_TEST_SITE}\n"
                    "mqtt:\n  url: ${EDGE_TEST_URL}\n  username: ${EDGE_TEST_UNSET_VAR:-anon}\n")
    cfg = load_config(path).config
    assert cfg.gateway.id == "gw-xuan-truong"
    assert cfg.mqtt.host == "broker.example" and cfg.mqtt.port == 8884 and cfg.mqtt.uses_tls
    assert cfg.mqtt.username == "anon"
    assert cfg.base_topic == "commune/xuan-truong/gw-xuan-truong"


def test_password_file_absolute_and_from_credentials_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw.txt"
    secret.write_text("from-a-file\n")
    path = tmp_path / "c.yaml"
    path.write_text(GOOD_HEAD + f"mqtt:\n  username: u\n  password_file: {secret}\n")
    loaded = load_config(path)
    assert loaded.config.mqtt.password is not None
    assert loaded.config.mqtt.password.get_secret_value() == "from-a-file"
    dumped = json.dumps(redacted_dump(loaded.config))
    assert "from-a-file" not in dumped and "**********" in dumped

    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt_password").write_text("from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    path.write_text(GOOD_HEAD + "mqtt:\n  password_file: mqtt_password\n")
    password = load_config(path).config.mqtt.password
    assert password is not None and password.get_secret_value() == "from-systemd"

    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "mqtt_password" in str(caught.value) and ":5:3" in str(caught.value)


def test_demo_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MQTT_URL", "EDGE_DATA_DIR", "HTTP_PORT"):
        monkeypatch.delenv(var, raising=False)
    loaded = load_config(ROOT / "config" / "demo.yaml")
    assert loaded.config.gateway.id == "demo-gw"
    assert loaded.config.mqtt.url == "mqtt://127.0.0.1:1883"
    assert len(loaded.digest) == 12


def test_config_get_hides_every_url_credential() -> None:
    """User-only credentials and passwords with '/' in them are hidden too (config/get)."""
    from drivers.redact import redact_urls

    assert redact_urls("rtsp://admin:ab/cd@cam:554/s") == "rtsp://****@cam:554/s"
    assert redact_urls("mqtt://user@broker:1883") == "mqtt://****@broker:1883"
    assert redact_urls("rtsp://cam/stream") == "rtsp://cam/stream"
    assert redact_urls("a rtsp://u:p@x b http://y") == "a rtsp://****@x b http://y"
