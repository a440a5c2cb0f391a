"""Public warnings through the real path: node -> Mosquitto -> hub process (engine, outbox) -> Kannel (bearerbox,
smsbox, fake SMSC) -> delivery reports back to the hub; the hub SIGKILLed mid-fan-out loses nobody and doubles
nobody."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench._alerts_load import EdgePublisher
from bench.warnings import DLR_ENV, FAN, HIGH, LOW, hub_config, write_inputs
from hub.api.auth import Role
from testkit.hubproc import HubProcess
from testkit.kannel import Kannel, reassemble
from testkit.localsvc import InfluxDB, Mosquitto, free_port
from tests.hub.api.support import TOKENS, api_section
from tests.support.wait import wait_until

pytestmark = pytest.mark.services

SUBSCRIBERS = 60


def first_parts(kannel: Kannel) -> list[Any]:
    return [s for s in kannel.received() if s.concat is None or s.concat[2] == 1]


def states(hub: Any) -> dict[str, int]:
    body = hub.get_json(f"/api/warnings/messages?limit={SUBSCRIBERS + 10}", token=TOKENS[Role.VIEWER])
    return dict(Counter(m["state"] for m in body["messages"]))


def test_a_bd3_warning_reaches_each_resident_once_across_a_hub_kill(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influx: InfluxDB,
    kannel: Kannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DLR_ENV, "dlr-test-token-0123456789")
    port = free_port()
    config = hub_config(write_inputs(tmp_path, SUBSCRIBERS), mosquitto, influx, kannel, port, rate=20.0)
    config["warnings"]["reconcile_s"] = 15  # the reports settle the ambiguous sends well before
    config["api"] = api_section()
    hub = HubProcess(tmp_path / "hub", config)
    hub.start()
    fan = EdgePublisher("127.0.0.1", mosquitto.port, FAN, "stage")
    fan.connect()
    try:
        fan.publish(LOW)
        fan.publish(HIGH)  # BĐ3 at the commune's station: SUBSCRIBERS residents, 20 SMS a second
        wait_until(lambda: len(first_parts(kannel)) >= SUBSCRIBERS // 3, what="a third of the SMS")
        hub.kill()
        hub.start()
        wait_until(lambda: len(first_parts(kannel)) >= SUBSCRIBERS, timeout=60, what="every SMS")
        # Settled: nothing left to send, no send without a verdict (a resend would come after reconcile_s).
        wait_until(lambda: not {"queued", "sending", "unknown"} & set(states(hub)), timeout=30, what="all settled")
        got = Counter(s.receiver for s in first_parts(kannel))
        assert sorted(got) == sorted(f"+8490{k:07d}" for k in range(1, SUBSCRIBERS + 1))
        assert max(got.values()) == 1, [n for n, c in got.items() if c > 1]
        # The gateway's reports came back to the hub (the fake SMSC reports each as delivered).
        wait_until(lambda: states(hub) == {"delivered": SUBSCRIBERS}, timeout=30, what="every message delivered")
        parts = [s for s in kannel.received() if s.receiver == "+84900000001"]
        text = reassemble(parts, "ucs2")
        assert text.startswith("[CẢNH BÁO LŨ]") and "BĐ3" in text
    finally:
        fan.close()
        hub.kill()
