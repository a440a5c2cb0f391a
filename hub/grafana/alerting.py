"""Grafana-managed alert rules: a second line behind the hub's streaming engine, and the contact point they use.

The hub's engine evaluates every message and notifies within a second; Grafana evaluates these every minute and
waits for its notification policy, so they catch what the first line cannot: the hub's engine not running, or its
notifier failing. They read only what the engine writes (flood_level, risk_level, fire_danger) and node_status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as am
from pydantic import BaseModel, ConfigDict, Field

from hub.grafana.common import DATASOURCE_UID, query

RULE_GROUP = "iocgw-second-line"
INTERVAL = "1m"
CONTACT_POINT = "iocgw-duty"
CONTACT_POINT_UID = "iocgw-duty-webhook"
ORG_ID = 1
LOOKBACK_S = 3600


class ContactSettings(BaseModel):
    """Where Grafana sends what these rules raise: a webhook (the IOC's duty system, a chat bridge ...)."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str = Field("http://127.0.0.1:8080/grafana-alerts", pattern=r"^https?://\S+$")


@dataclass(frozen=True)
class RuleSpec:
    uid: str
    title: str
    sql: str  # one series per subject, over the last LOOKBACK_S seconds
    above: float  # fires when the subject's last value is above this
    summary: str
    severity: str


RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "iocgw-flood-bd3",
        "Mực nước trạm đạt BĐ3 (flood at BĐ3)",
        'SELECT last("level") FROM "flood_level" WHERE $timeFilter GROUP BY "station_id"',
        2.5,
        "Trạm {{ $labels.station_id }} ở mức BĐ3 (second line: the hub's engine should have notified already)",
        "critical",
    ),
    RuleSpec(
        "iocgw-risk-level-4",
        "Cấp độ rủi ro thiên tai từ cấp 4 (disaster risk level 4-5)",
        'SELECT last("level") FROM "risk_level" WHERE $timeFilter GROUP BY "area"',
        3.5,
        "Địa bàn {{ $labels.area }}: cấp độ rủi ro thiên tai {{ $values.B }} (QĐ 18/2021)",
        "critical",
    ),
    RuleSpec(
        "iocgw-fire-level-4",
        "Cấp dự báo cháy rừng IV-V (fire danger IV-V)",
        'SELECT last("level") FROM "fire_danger" WHERE $timeFilter GROUP BY "area_id"',
        3.5,
        "Vùng {{ $labels.area_id }}: cấp dự báo cháy rừng {{ $values.B }} (TT 25/2019)",
        "major",
    ),
    RuleSpec(
        "iocgw-outbox-backlog",
        "Hàng đợi outbox của nút biên tồn đọng (edge outbox backlog)",
        'SELECT last("outbox_depth") FROM "node_status" WHERE $timeFilter GROUP BY "node_id"',
        1000,
        "Nút {{ $labels.node_id }} giữ {{ $values.B }} tin chưa được hub xác nhận",
        "warning",
    ),
)


def _rule(spec: RuleSpec, folder_uid: str) -> alerting.Rule:
    source = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(am.RelativeTimeRange(from_val=LOOKBACK_S, to=0))
        .model(query("A", spec.sql))
    )
    reduce = (
        alerting.Query("B")
        .datasource_uid("__expr__")
        .model(expr.TypeReduce().ref_id("B").expression("A").reducer("last"))
    )
    threshold = (
        alerting.Query("C")
        .datasource_uid("__expr__")
        .model(
            expr.TypeThreshold()
            .ref_id("C")
            .expression("B")
            .conditions(
                [
                    expr.ExprTypeThresholdConditions().evaluator(
                        expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([spec.above])
                    )
                ]
            )
        )
    )
    return (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .org_id(ORG_ID)
        .folder_uid(folder_uid)
        .rule_group(RULE_GROUP)
        .queries([source, reduce, threshold])
        .condition("C")
        .for_val("0s")
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"source": "iocgw-grafana", "severity": spec.severity})
        .annotations({"summary": spec.summary})
    )


def _plain(obj: object) -> Any:
    return json.loads(json.dumps(obj, cls=JSONEncoder))


def rules(folder_uid: str) -> list[dict[str, Any]]:
    """The rules as ``POST /api/v1/provisioning/alert-rules`` takes them, each routed to our contact point."""
    out = []
    for spec in RULES:
        rule = _plain(_rule(spec, folder_uid).build())
        # Simplified routing: straight to the contact point, leaving the instance's policy tree alone.
        rule["notification_settings"] = {"receiver": CONTACT_POINT}
        out.append(rule)
    return out


def contact_point(settings: ContactSettings) -> dict[str, Any]:
    """As ``POST /api/v1/provisioning/contact-points`` takes it."""
    cp = (
        alerting.ContactPoint()
        .uid(CONTACT_POINT_UID)
        .name(CONTACT_POINT)
        .type("webhook")
        .settings({"url": settings.webhook_url, "httpMethod": "POST"})
        .disable_resolve_message(False)
    )
    return _plain(cp.build())


def provisioning_file(folder_title: str, folder_uid: str, settings: ContactSettings) -> dict[str, Any]:
    """``provisioning/alerting/iocgw.yaml``: the same rules and contact point in Grafana's file format."""
    file_rules = []
    for r in rules(folder_uid):
        file_rules.append(
            {
                "uid": r["uid"],
                "title": r["title"],
                "condition": r["condition"],
                "data": r["data"],
                "noDataState": r["noDataState"],
                "execErrState": r["execErrState"],
                "for": r["for"],
                "labels": r["labels"],
                "annotations": r["annotations"],
                "notification_settings": r["notification_settings"],
            }
        )
    cp = contact_point(settings)
    receiver = {k: cp[k] for k in ("uid", "type", "settings", "disableResolveMessage")}
    return {
        "apiVersion": 1,
        "contactPoints": [{"orgId": ORG_ID, "name": CONTACT_POINT, "receivers": [receiver]}],
        "groups": [
            {"orgId": ORG_ID, "name": RULE_GROUP, "folder": folder_title, "interval": INTERVAL, "rules": file_rules}
        ],
    }
