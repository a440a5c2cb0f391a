"""The notification payload, ids, the registry and the notify config schema."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hub.alerts.alarm import Condition, Transition, apply_condition
from hub.alerts.notify import Notification, NotifyConfig, notifier_keys
from hub.alerts.notify.mqtt import MqttTargetConfig
from hub.alerts.notify.webhook import WebhookConfig
from hub.alerts.rules.severity import Severity
from tests.hub.alerts.notify.stubs import T0, VI_MESSAGE, make_alarm

DOC = Path(__file__).resolve().parents[4] / "docs" / "notifications.md"


def test_every_notifier_is_registered():
    assert notifier_keys() == ["grafana", "mqtt", "smtp", "webhook"]


def test_payload_is_utf8_json_with_a_stable_id():
    alarm = make_alarm()
    note = Notification.make(alarm, Transition.CREATED, "ops", T0)
    assert note.id == f"{alarm.id}.0.created"
    body = note.body()
    assert VI_MESSAGE.encode("utf-8") in body  # not \u-escaped
    doc = json.loads(body)
    assert doc["version"] == 1 and doc["id"] == note.id and doc["transition"] == "created"
    assert doc["escalation"] is False and doc["target"] == "ops"
    assert doc["alarm"]["severity"] == "major" and doc["alarm"]["state"] == "ACTIVE_UNACK"
    assert Notification.model_validate_json(note.model_dump_json()) == note
    esc = Notification.make(alarm, Transition.CREATED, "boss", T0, escalation_key="0.duty")
    assert esc.escalation and esc.id == f"{alarm.id}.escalation.0.duty"
    assert esc.summary().startswith("ESCALATION MAJOR flood_level river-x/stage ACTIVE_UNACK")


def test_event_time_is_the_change_or_the_escalation():
    alarm = make_alarm()
    cleared, t = apply_condition(alarm, alarm.rule, alarm.subject, Condition(active=False), T0 + timedelta(hours=2))
    assert t is Transition.CLEARED and cleared is not None
    assert Notification.make(cleared, t, "x", T0 + timedelta(hours=3)).event_time == T0 + timedelta(hours=2)
    esc = Notification.make(alarm, Transition.CREATED, "x", T0 + timedelta(hours=1), escalation_key="0.r")
    assert esc.event_time == T0 + timedelta(hours=1)


def _config(**over):
    data = {
        "targets": [
            {"type": "webhook", "name": "ops", "url": "http://127.0.0.1:9/hook", "secret": {"env": "S"}},
            {"type": "mqtt", "name": "board"},
        ],
        "routes": [{"targets": ["ops", "board"]}],
    }
    data.update(over)
    return NotifyConfig.model_validate(data)


def test_config_parses_targets_by_type():
    cfg = _config()
    assert isinstance(cfg.targets[0], WebhookConfig) and isinstance(cfg.targets[1], MqttTargetConfig)
    assert cfg.rate_per_min("ops") == 60.0


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"routes": [{"targets": ["nobody"]}]}, "unknown targets: nobody"),
        ({"routes": [{"targets": ["ops"], "escalate_after_s": 60}]}, "go together"),
        ({"routes": [{"min_severity": "major"}]}, "needs targets"),
        ({"targets": [{"type": "mqtt", "name": "a"}, {"type": "mqtt", "name": "a"}], "routes": []}, "used twice"),
        ({"targets": [{"type": "pager", "name": "a"}], "routes": []}, "unknown notifier 'pager'; the notifiers are: "),
        ({"targets": [{"type": "mqtt", "name": "a", "prefix": "x/#"}], "routes": []}, "not allowed"),
        ({"rate_limit": 5}, "Extra inputs"),
    ],
)
def test_config_errors_are_named(over, needle):
    with pytest.raises(ValidationError, match=re.escape(needle)):
        _config(**over)


def test_route_selects_by_severity_rule_and_area():
    cfg = _config(
        routes=[{"min_severity": "major", "rules": ["flood_level"], "areas": ["01"], "targets": ["ops"]}],
    )
    route = cfg.routes[0]
    assert route.matches(make_alarm(Severity.MAJOR, area="01001"), Transition.CREATED)
    assert not route.matches(make_alarm(Severity.MINOR), Transition.CREATED)
    assert not route.matches(make_alarm(rule="heavy_rain"), Transition.CREATED)
    assert not route.matches(make_alarm(area="79"), Transition.CREATED)
    assert not route.matches(make_alarm(area=None), Transition.CREATED)
    assert not route.matches(make_alarm(), Transition.UPDATED)


def test_the_documented_example_is_valid():
    text = DOC.read_text(encoding="utf-8")
    example = text.split("<!-- full-example -->", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    cfg = NotifyConfig.model_validate(yaml.safe_load(example)["notify"])
    assert {t.type for t in cfg.targets} == {"webhook", "mqtt", "smtp", "grafana"}
    assert cfg.routes[2].escalate_to == ["director-mail"]
    with pytest.raises(ValidationError, match="min_severity"):
        NotifyConfig.model_validate(
            yaml.safe_load(example.replace("min_severity: major", "min_severity: huge"))["notify"]
        )
