"""One test PKI and one provisioned broker per module: certificates are cheap, broker starts are not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.provision.broker import FixturePki, ProvisionedMosquitto, make_pki


@pytest.fixture(scope="module")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> FixturePki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, test_pki: FixturePki) -> Iterator[ProvisionedMosquitto]:
    broker = ProvisionedMosquitto(tmp_path_factory.mktemp("broker"), test_pki)
    broker.start()
    yield broker
    broker.kill()
