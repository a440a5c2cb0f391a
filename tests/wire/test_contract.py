"""The wire contract: models accept what docs/contract.md promises and refuse the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from wire import Channel, StatusMessage, TelemetryMessage, Topics
from wire.messages import describe_error, parse_message, to_epoch_ms
from wire.schema import render_schemas

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "v": 1,
    "node_id": "hn-longbien-01",
    "seq": 42,
    "ts": "2026-11-22T03:00:00Z",
    "readings": [{"sensor_id": "wl1", "quantity": "water_level", "value": 9.87, "unit": "m", "quality": "good"}],
}


def test_valid_telemetry_round_trips():
    msg = TelemetryMessage.model_validate(GOOD)
    again = TelemetryMessage.model_validate_json(msg.model_dump_json())
    assert again == msg
    assert to_epoch_ms(msg.ts) == 1795316400000


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"seq": 0}, "seq"),
        ({"ts": "2026-11-22T03:00:00"}, "ts"),  # no time zone: not a UTC timestamp
        ({"ts": "1970-01-01T00:00:00Z"}, "ts"),  # clock never set
        ({"node_id": "Bad/Node"}, "node_id"),
        ({"readings": []}, "readings"),
        ({"v": 2}, "v"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_envelopes_name_the_field(patch, where):
    with pytest.raises(ValidationError) as info:
        TelemetryMessage.model_validate({**GOOD, **patch})
    assert where in describe_error(info.value)


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        ({"value": float("nan")}, "finite"),
        ({"value": "high"}, "valid number"),
        ({"unit": "cm"}, "send 'm'"),
        ({"quantity": "flux"}, "quantity"),
        ({"quality": "great"}, "quality"),
    ],
)
def test_invalid_readings_are_refused(reading, reason):
    bad = {**GOOD, "readings": [{**GOOD["readings"][0], **reading}]}
    with pytest.raises(ValidationError) as info:
        TelemetryMessage.model_validate(bad)
    assert reason in describe_error(info.value)


def test_nan_in_raw_json_is_refused():
    raw = json.dumps(GOOD).replace("9.87", "NaN")
    with pytest.raises(ValidationError):
        parse_message(Channel.TELEMETRY, raw.encode())


def test_status_minimal_will_payload_is_valid():
    msg = StatusMessage(node_id="n1", seq=1, ts="2026-11-22T00:00:00Z", state="offline")
    assert msg.state.value == "offline"


def test_topics_build_and_parse():
    t = Topics("ioc/hanoi")
    assert t.telemetry("n1") == "ioc/hanoi/v1/n1/telemetry"
    parts = t.parse("ioc/hanoi/v1/n1/snapshot/cam1/smoke")
    assert (parts.node_id, parts.channel, parts.rest) == ("n1", Channel.SNAPSHOT, ("cam1", "smoke"))
    assert t.all_of(Channel.SNAPSHOT) == "ioc/hanoi/v1/+/snapshot/#"
    for bad in ("other/v1/n1/telemetry", "ioc/hanoi/v1/n1", "ioc/hanoi/v1/n1/weather"):
        with pytest.raises(ValueError):
            t.parse(bad)


def test_committed_json_schemas_match_the_models():
    """docs/schemas is generated; regenerate with `iocgw contract schemas` when a model changes."""
    for name, text in render_schemas().items():
        committed = ROOT / "docs" / "schemas" / name
        assert committed.exists(), f"{committed} missing: run `iocgw contract schemas`"
        assert committed.read_text(encoding="utf-8") == text, f"{name} drifted from the models"


def test_contract_doc_lists_every_quantity_with_its_unit():
    from wire import CANONICAL_UNITS

    doc = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    for quantity, unit in CANONICAL_UNITS.items():
        assert f"| `{quantity.value}` | `{unit}` |" in doc, f"docs/contract.md lacks {quantity.value}"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.timezones()))
def test_epoch_ms_is_exact(ts):
    assert to_epoch_ms(ts) == (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"readings": [{**GOOD["readings"][0], "value": "9.87"}]}, "readings.0.value"),  # a string is not a number
        ({"readings": [{**GOOD["readings"][0], "value": True}]}, "readings.0.value"),  # nor is true (it was stored 1.0)
        ({"seq": "19"}, "seq"),
        ({"seq": 20.0}, "seq"),
        ({"v": True}, "v"),
        ({"node_id": 7}, "node_id"),
    ],
)
def test_wrong_json_types_are_refused_not_converted(patch, where):
    with pytest.raises(ValidationError) as info:
        parse_message(Channel.TELEMETRY, json.dumps({**GOOD, **patch}))
    assert describe_error(info.value).startswith(where)


def test_integers_are_numbers_for_a_value():
    msg = parse_message(Channel.TELEMETRY, json.dumps({**GOOD, "readings": [{**GOOD["readings"][0], "value": 10}]}))
    assert msg.readings[0].value == 10.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "payload",
    [
        '{"v": 1, "node_id": "a", "seq": 1, "ts": "2026-11-22T03:00:00Z", "node_id": "hn-longbien-01", "readings": '
        '[{"sensor_id": "wl1", "quantity": "water_level", "value": 9.87, "unit": "m"}]}',
        '{"v": 1, "node_id": "hn-longbien-01", "seq": 1, "ts": "2026-11-22T03:00:00Z", "readings": '
        '[{"sensor_id": "wl1", "quantity": "water_level", "value": 1.0, "value": 9.87, "unit": "m"}]}',
    ],
)
def test_a_key_given_twice_is_refused(payload):
    for as_sent in (payload, payload.encode()):  # str: the full check; bytes (the hub): counted first
        with pytest.raises(ValueError, match="appears twice"):
            parse_message(Channel.TELEMETRY, as_sent)


READING = '{"sensor_id": "wl1", "quantity": "water_level", "value": 9.87, "unit": "m"}'


@pytest.mark.parametrize(
    "payload",
    [
        # whitespace between a key and its colon
        '{"v": 1, "node_id": "n1", "seq": 1, "ts": "2026-11-22T03:00:00Z", "readings": [{"sensor_id": "wl1", '
        '"quantity": "water_level", "value" : 1.0, "value"\n:\t9.87, "unit": "m"}]}',
        # the same key spelled with an escape: a parser reads it as the same key
        '{"v": 1, "node_id": "n1", "seq": 1, "ts": "2026-11-22T03:00:00Z", "node\\u005fid": "n2", "readings": ['
        + READING
        + "]}",
        # a repeated key in the second reading only, the first reading missing an optional key to even the count
        '{"v": 1, "node_id": "n1", "seq": 1, "ts": "2026-11-22T03:00:00Z", "readings": [' + READING + ", "
        '{"sensor_id": "wl2", "quantity": "water_level", "value": 1.0, "unit": "m", "quality": "good", '
        '"quality": "bad"}]}',
    ],
)
def test_repeated_keys_are_found_however_they_are_written(payload):
    with pytest.raises(ValueError, match="appears twice"):
        parse_message(Channel.TELEMETRY, payload.encode())


def test_a_plain_telemetry_payload_is_not_parsed_twice(monkeypatch):
    import wire.messages as m

    def full_check(payload):
        raise AssertionError("the full duplicate-key parse ran")

    monkeypatch.setattr(m, "check_duplicate_keys", full_check)
    body = '{"v": 1, "node_id": "n1", "seq": 1, "ts": "2026-11-22T03:00:00Z", "readings": [' + READING + "]}"
    assert parse_message(Channel.TELEMETRY, body.encode()).node_id == "n1"
    with pytest.raises(AssertionError, match="full duplicate-key parse"):  # a backslash: the full check decides
        parse_message(Channel.TELEMETRY, body.replace('"n1"', '"n\\u0031"').encode())


def _status(extra: dict) -> str:
    return json.dumps(
        {"v": 1, "node_id": "n1", "seq": 1, "ts": "2026-11-22T03:00:00Z", "state": "online", "extra": extra}
    )


def test_status_figures_have_plain_names_and_a_bound():
    ok = parse_message(Channel.STATUS, _status({"cam.gate-1.fps": 5.0, "alarm.wl1": 1.0, "read_errors": 0}))
    assert ok.extra == {"cam.gate-1.fps": 5.0, "alarm.wl1": 1.0, "read_errors": 0.0}  # type: ignore[attr-defined]
    for bad in ({"x\\": 1.0}, {"a b": 1.0}, {"a=b": 1.0}, {"": 1.0}, {f"k{i}": 1.0 for i in range(3000)}):
        with pytest.raises(ValidationError) as info:
            parse_message(Channel.STATUS, _status(bad))
        assert describe_error(info.value).startswith("extra")


def test_committed_schemas_say_what_json_schema_cannot():
    for text in render_schemas().values():
        assert "repeats a key is refused" in json.loads(text)["$comment"]
