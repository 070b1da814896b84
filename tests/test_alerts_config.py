"""The alert and notification config: bounded defaults, readable errors, secrets kept, and
every rule configured, titled and documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from control_room.alerts.conditions import RULE_ORDER
from control_room.alerts.config import AlertRulesConfig, NotificationsConfig
from control_room.alerts.message import TITLES


def _walk(model: type[BaseModel], path: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, field in model.model_fields.items():
        assert field.description, f"{path}{name} has no description"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _walk(annotation, f"{path}{name}.")
        else:
            out.append((f"{path}{name}", field))
    return out


@pytest.mark.parametrize("model", [AlertRulesConfig, NotificationsConfig])
def test_config_fields_have_descriptions_and_bounded_defaults(model: type[BaseModel]) -> None:
    fields = _walk(model)
    assert len(fields) > 8
    for path, field in fields:
        if field.annotation in (float, int) and not path.endswith(".enabled"):
            bounds = {type(m).__name__ for m in field.metadata}
            assert bounds & {"Le", "Lt"} and bounds & {"Ge", "Gt"}, f"{path} is unbounded"
    model()  # an empty section is a working one


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"camera_offline\.for_s"):
        AlertRulesConfig.model_validate({"camera_offline": {"for_s": -1}})
    with pytest.raises(ValidationError, match="extra"):
        AlertRulesConfig.model_validate({"camera_offline": {"for": 60}})
    with pytest.raises(ValidationError, match="http"):
        NotificationsConfig.model_validate({"webhooks": [{"url": "ftp://x"}]})
    with pytest.raises(ValidationError, match="schema://"):
        NotificationsConfig.model_validate({"apprise": ["not a url"]})
    secret = NotificationsConfig.model_validate({"apprise": ["tgram://123:SECRET/456"]})
    assert "SECRET" not in repr(secret)


def test_every_rule_is_configured_titled_and_documented() -> None:
    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "control-room.md").read_text(encoding="utf-8")
    section = doc[doc.index("<!-- alerts -->"):doc.index("<!-- /alerts -->")]
    assert set(RULE_ORDER) == set(AlertRulesConfig.model_fields) == set(TITLES)
    for rule in RULE_ORDER:
        assert f"| `{rule}` |" in section, rule


def test_control_room_yaml_errors_in_alerts_and_notifications_give_file_line_and_path(
        tmp_path: Path) -> None:
    """The sections are part of the control room's schema, so the shared loader points at
    the line (before they were validated afterwards, as one line without a place)."""
    from control_room.config import load
    from yaml_config import ConfigError

    bad = tmp_path / "control-room.yaml"
    bad.write_text("alerts:\n  camera_offline:\n    for_s: -1\n"
                   "notifications:\n  webhooks:\n    - url: ftp://x\n"
                   "  min_severty: warning\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(bad)
    text = str(caught.value)
    assert "control-room.yaml:3" in text and "alerts.camera_offline.for_s" in text, text
    assert "control-room.yaml:6" in text and "notifications.webhooks" in text, text
    assert "control-room.yaml:7" in text and "min_severity" in text, text  # did you mean
