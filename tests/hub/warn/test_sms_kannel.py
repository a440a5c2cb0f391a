"""The Kannel SMS channel without Kannel: its config, DLR mapping, report URL, and what each smsbox answer means.

The round trip through a real bearerbox, smsbox and fake SMSC is in test_sms_kannel_gateway.py.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from hub.warn.channels.base import ChannelError
from hub.warn.channels.registry import CHANNELS, build_channel
from hub.warn.channels.sms_kannel import KannelChannel, KannelConfig, dlr_state, report_url
from hub.warn.message import WarningMessage
from testkit.localsvc import free_port

DOCS = Path(__file__).resolve().parents[3] / "docs"
T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)
MID = "flood-01.3.created/r-17/sms-hue"
VI = "CẢNH BÁO LŨ: Sông Hương tại Kim Long 3,62 m, trên BĐ3."


def warning(address: str = "0905 123 456", text_vi: str = VI, **over: Any) -> WarningMessage:
    fields: dict[str, Any] = {
        "id": MID,
        "channel": "sms-hue",
        "recipient_id": "r-17",
        "address": address,
        "text_vi": text_vi,
        "alarm_id": "flood-01",
        "transition": "created",
        "hazard": "flood",
        "severity": "major",
        "area": "46",
        "created_at": T0,
    }
    return WarningMessage(**{**fields, **over})


def config(url: str, **over: Any) -> KannelConfig:
    fields: dict[str, Any] = {
        "name": "sms-hue",
        "type": "sms_kannel",
        "sendsms_url": url,
        "username": "iocgw",
        "password": {"env": "IOCGW_TEST_KANNEL_PW"},
        "from": "IOC-HUE",
        "dlr_url": "http://127.0.0.1:8080/api/warnings/dlr/kannel?key={key}&id={id}&type=%d&reply=%A",
        "dlr_key": {"env": "IOCGW_TEST_DLR_KEY"},
        "timeout_s": 2,
    }
    return KannelConfig.model_validate({**fields, **over})


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_KANNEL_PW", "pw-ä&=")
    monkeypatch.setenv("IOCGW_TEST_DLR_KEY", "dlr-key-0123456789abcdef")


@pytest.mark.parametrize(
    ("code", "state"),
    [
        (1, "delivered"),
        (2, "failed"),
        (4, "sent"),
        (8, "sent"),
        (16, "failed"),
        (9, "delivered"),
        (12, "sent"),
        (18, "failed"),
        (0, "sent"),
    ],
)
def test_dlr_codes_map_to_outbox_states(code, state):
    assert dlr_state(code) == state


def test_report_url_carries_the_id_and_leaves_kannel_escapes():
    url = report_url("http://h/dlr?key={key}&id={id}&type=%d&reply=%A", "a.1.created/r é/sms", "k/1")
    assert url == "http://h/dlr?key=k%%2F1&id=a.1.created%%2Fr%%20%%C3%%A9%%2Fsms&type=%d&reply=%A"


def test_registered_and_built_from_its_config():
    assert CHANNELS.plugin("sms_kannel") is KannelChannel
    assert isinstance(build_channel(config("http://127.0.0.1:1/cgi-bin/sendsms")), KannelChannel)


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"from": "A-NAME-TOO-LONG"}, "sender id"),
        ({"dlr_url": "http://h/dlr?type=%d"}, "needs {id}"),
        ({"dlr_url": "ftp://h/{id}"}, "http or https"),
        ({"max_parts": 0}, "max_parts"),
        ({"password": "inline"}, "password"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_config_refuses(over, error):
    with pytest.raises(ValueError, match=error):
        config("http://127.0.0.1:1/cgi-bin/sendsms", **over)


def test_doc_samples_validate():
    samples = []
    for name in ("warnings-sms.md", "warnings.md"):
        path = DOCS / name
        if path.exists():
            for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
                doc = yaml.safe_load(block)
                channels = (doc.get("warnings", doc) if isinstance(doc, dict) else {}).get("channels", [])
                samples += [c for c in channels if c.get("type") == "sms_kannel" and "..." not in c]
    assert samples, "docs/warnings-sms.md has a YAML sample of an sms_kannel channel"
    for sample in samples:
        assert KannelConfig.model_validate(sample).type == "sms_kannel"


class FakeSmsbox:
    """A local HTTP server answering sendsms as told, recording each query."""

    def __init__(self, status: int, body: str, *, hang: bool = False) -> None:
        self.status, self.body, self.hang = status, body, hang
        self.queries: list[dict[str, str]] = []
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        if self.hang:
            await self._release.wait()  # no answer until the test ends: the channel's timeout must end the attempt
        return web.Response(status=self.status, text=self.body)

    async def __aenter__(self) -> FakeSmsbox:
        app = web.Application()
        app.router.add_get("/cgi-bin/sendsms", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._release.set()
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/sendsms"


async def send_via(box: FakeSmsbox | None, message: WarningMessage, **over: Any) -> Any:
    """The receipt, or the ChannelError raised."""
    channel = KannelChannel(config(box.url if box else f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms", **over))
    await channel.start()
    try:
        return await channel.send(message)
    except ChannelError as exc:
        return exc
    finally:
        await channel.close()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 15))


def test_accepted_request_carries_everything_kannel_needs():
    async def go() -> tuple[Any, dict[str, str]]:
        async with FakeSmsbox(202, "0: Accepted for delivery") as box:
            receipt = await send_via(box, warning())
            return receipt, box.queries[0]

    receipt, q = run(go())
    assert receipt.state == "sent"
    assert "1 part(s), ucs2" in receipt.detail
    assert q["to"] == "+84905123456"
    assert q["text"] == VI
    assert (q["coding"], q["charset"]) == ("2", "UTF-8")
    assert (q["username"], q["password"], q["from"]) == ("iocgw", "pw-ä&=", "IOC-HUE")
    assert q["dlr-mask"] == "31"
    assert q["dlr-url"] == report_url(config("http://x/").dlr_url or "", MID, "dlr-key-0123456789abcdef")


def test_gsm7_sends_the_unaccented_text_with_coding_0():
    async def go() -> dict[str, str]:
        async with FakeSmsbox(202, "Sent.") as box:
            assert (await send_via(box, warning(sms_encoding="gsm7"))).state == "sent"
            return box.queries[0]

    q = run(go())
    assert q["text"] == "CANH BAO LU: Song Huong tai Kim Long 3,62 m, tren BD3."
    assert q["coding"] == "0"


def test_a_text_over_max_parts_is_cut_to_fit():
    async def go() -> dict[str, str]:
        async with FakeSmsbox(202, "Sent.") as box:
            await send_via(box, warning(text_vi="Mưa lớn kéo dài. " * 40), max_parts=2)
            return box.queries[0]

    q = run(go())
    assert len(q["text"]) <= 2 * 67
    assert q["text"].endswith("…")


def test_no_dlr_url_asks_for_no_report():
    async def go() -> dict[str, str]:
        async with FakeSmsbox(202, "Sent.") as box:
            await send_via(box, warning(), dlr_url=None)
            return box.queries[0]

    q = run(go())
    assert "dlr-url" not in q and "dlr-mask" not in q


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (403, "Authorization failed for sendsms", False),
        (400, "Sender missing and no global set, rejected", False),
        (500, "internal error", True),
        (503, "Message queue full", True),
        (429, "slow down", True),
    ],
)
def test_smsbox_answers(status, body, retryable):
    err = run(send_via_status(status, body))
    assert isinstance(err, ChannelError)
    assert err.retryable is retryable
    assert f"HTTP {status}" in str(err) and body in str(err)
    assert "pw-" not in str(err)


async def send_via_status(status: int, body: str) -> Any:
    async with FakeSmsbox(status, body) as box:
        return await send_via(box, warning())


def test_unreachable_and_silent_smsbox_are_retried():
    refused = run(send_via(None, warning()))
    assert isinstance(refused, ChannelError) and refused.retryable and "unreachable" in str(refused)

    async def silent() -> Any:
        async with FakeSmsbox(202, "", hang=True) as box:
            return await send_via(box, warning(), timeout_s=0.3)

    timed_out = run(silent())
    assert isinstance(timed_out, ChannelError) and timed_out.retryable


@pytest.mark.parametrize("address", ["0243 8253 536", "01621234567", "hello", "+84 905"])
def test_a_bad_number_is_final_and_named_without_a_request(address):
    async def go() -> tuple[Any, int]:
        async with FakeSmsbox(202, "Sent.") as box:
            return await send_via(box, warning(address=address)), len(box.queries)

    err, requests = run(go())
    assert isinstance(err, ChannelError) and not err.retryable
    assert repr(address) in str(err)
    assert requests == 0


def test_a_missing_password_is_retried():
    async def go() -> Any:
        async with FakeSmsbox(202, "Sent.") as box:
            return await send_via(box, warning(), password={"file": "/nonexistent/kannel-password"})

    err = run(go())
    assert isinstance(err, ChannelError) and err.retryable and "password unavailable" in str(err)


def test_send_before_start_is_retryable():
    channel = KannelChannel(config("http://127.0.0.1:1/cgi-bin/sendsms"))
    with pytest.raises(ChannelError, match="not started") as info:
        run(channel.send(warning()))
    assert info.value.retryable
