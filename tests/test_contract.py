"""The contract package: strict decoding, standard JSON out, one time format, the topic
table. Pure: no broker."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contract
from contract.core import DroppedRange, seq_ranges

NOW = datetime(2026, 11, 22, 14, 3, 7, 120000, tzinfo=UTC)


def test_one_time_format_utc_milliseconds_z() -> None:
    assert contract.utc_iso(NOW) == "2026-11-22T14:03:07.120Z"
    hanoi = NOW.astimezone(timezone(timedelta(hours=7)))
    assert contract.utc_iso(hanoi) == "2026-11-22T14:03:07.120Z"
    assert contract.utc_iso(NOW.timestamp()) == "2026-11-22T14:03:07.120Z"
    with pytest.raises(ValueError):
        contract.utc_iso(datetime(2026, 1, 1))  # naive: ambiguous, refused
    assert contract.parse_time("2026-11-22T14:03:07.120Z") == NOW


@pytest.mark.parametrize("payload, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "nested"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested"),
    (b'{"id": NaN}', "NaN is not a JSON number"),
    (b'{"id": Infinity}', "Infinity is not a JSON number"),
    (b'{"id": -Infinity}', "Infinity is not a JSON number"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"a": ', "not valid JSON"),
    (b'{"pad": "' + b"x" * 300_000 + b'"}', "too large"),
])
def test_decode_refuses_with_one_line(payload: bytes, reason: str) -> None:
    with pytest.raises(contract.ContractError, match=reason) as info:
        contract.decode(payload)
    assert "\n" not in str(info.value)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = contract.decode(b'{"note": "' + b"[{" * 200 + b'"}')
    assert body["note"].startswith("[{")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_decode_never_raises_anything_but_contract_error(data: bytes) -> None:
    with contextlib.suppress(contract.ContractError):
        assert isinstance(contract.decode(data), dict)


def test_encode_never_emits_nan() -> None:
    with pytest.raises(ValueError):
        contract.encode({"x": float("nan")})
    with pytest.raises(ValueError):
        contract.encode({"x": [float("inf")]})
    assert contract.encode({"t": NOW}) == b'{"t":"2026-11-22T14:03:07.120Z"}'


def _light(**changes: object) -> bytes:
    body = {"circuit": "a", "state": "on", "reason": "schedule", "driver": "sim ch 1",
            "driver_ok": True, "on_hours_today": 1.5, "clock_synced": True}
    return contract.encode(contract.wrap(body, now=NOW) | {"seq": 7} | changes)


def test_parse_validates_envelope_and_payload() -> None:
    message = contract.parse("light/main-road/state", _light())
    assert message.spec is contract.topics.LIGHT_STATE
    assert message.params == {"circuit": "main-road"}
    assert message.body["seq"] == 7
    with pytest.raises(contract.ContractError, match="unsupported schema version"):
        contract.parse("light/a/state", _light(v=2))
    with pytest.raises(contract.ContractError, match="state"):
        contract.parse("light/a/state", _light(state="dim"))
    with pytest.raises(contract.ContractError, match="unknown topic"):
        contract.parse("light/a/b/state", _light())


def test_topic_table_matches_and_builds() -> None:
    spec, params = contract.find_topic("cmd/light/x/override/result") or (None, {})
    assert spec is contract.topics.COMMAND_RESULT and params == {"path": "light/x/override"}
    assert contract.find_topic("camera/gate/snapshot")[0].model is None  # type: ignore[index]
    assert contract.topics.CAMERA_MOTION.topic(camera="gate") == "camera/gate/motion"
    command, cparams = contract.find_command("light/main-road/pulse") or (None, {})
    assert command is not None and cparams == {"circuit": "main-road"}
    assert contract.find_command("light/main-road/explode") is None


def test_seq_ranges() -> None:
    assert seq_ranges([7, 1, 2, 3, 9, 8]) == [DroppedRange(first=1, last=3),
                                              DroppedRange(first=7, last=9)]
    assert seq_ranges([]) == []
