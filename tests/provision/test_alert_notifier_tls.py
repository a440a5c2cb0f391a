"""The hub's MQTT alert notifier logs in to the provisioned broker with its own client certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.alerts.alarm import Transition
from hub.alerts.notify import Notification, NotifyError
from hub.alerts.notify.mqtt import MqttNotifier, MqttTargetConfig
from tests.hub.alerts.notify.stubs import T0, make_alarm, run
from tests.provision.broker import ALERTS, HUB, FixturePki, ProvisionedMosquitto

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def alerts_broker(tmp_path_factory: pytest.TempPathFactory, test_pki: FixturePki) -> Iterator[ProvisionedMosquitto]:
    broker = ProvisionedMosquitto(tmp_path_factory.mktemp("broker"), test_pki, alert_publishers=[ALERTS])
    broker.start()
    yield broker
    broker.kill()


def notifier(broker: ProvisionedMosquitto, cert: Path | None, key: Path | None) -> MqttNotifier:
    return MqttNotifier(
        MqttTargetConfig(
            name="board",
            host="localhost",  # a name the broker's certificate lists: the name is checked, not only the chain
            port=broker.port,
            tls=True,
            ca_file=broker.test_pki.pki.ca_cert,
            cert_file=cert,
            key_file=key,
            timeout_s=5,
        )
    )


def send_one(n: MqttNotifier) -> None:
    async def main() -> None:
        await n.start()
        try:
            await n.send(Notification.make(make_alarm(subject="song-hong/ha-noi"), Transition.CREATED, "board", T0))
        finally:
            await n.close()

    run(main())


def test_notifier_publishes_alerts_with_its_own_certificate(alerts_broker, test_pki):
    pki = test_pki.pki
    n = notifier(alerts_broker, pki.hub_cert(ALERTS), pki.hub_key(ALERTS))
    send_one(n)  # QoS 1 over MQTT 5: a publish the ACL refused would come back as reason 0x87 and raise
    assert n.last_error is None


def test_a_certificate_without_the_alert_role_is_refused(alerts_broker, test_pki):
    pki = test_pki.pki
    # The hub's own certificate is valid, but its identity may write only config and ack topics.
    with pytest.raises(NotifyError, match="broker refused iocgw/alerts/v1/"):
        send_one(notifier(alerts_broker, pki.hub_cert(HUB), pki.hub_key(HUB)))


def test_no_client_certificate_gets_no_connection(alerts_broker):
    n = notifier(alerts_broker, None, None)
    with pytest.raises(NotifyError) as err:
        send_one(n)
    assert err.value.retryable  # the broker may be reconfigured: a later attempt could succeed


def test_client_certificate_settings_are_checked():
    with pytest.raises(ValidationError, match="both cert_file and key_file"):
        MqttTargetConfig(name="board", tls=True, cert_file=Path("a.crt"))
    with pytest.raises(ValidationError, match="need tls"):
        MqttTargetConfig(name="board", cert_file=Path("a.crt"), key_file=Path("a.key"))
