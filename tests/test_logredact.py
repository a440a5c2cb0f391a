"""No credential reaches a log line, whichever library writes it."""

from __future__ import annotations

import logging

import pytest

from plumbing.logredact import RedactSecrets, redact


@pytest.mark.parametrize(
    "text",
    [
        "b'GET / HTTP/1.1\\r\\nAuthorization: Bearer tok-SECRET-123456\\r\\n'",
        "authorization=Token tok-SECRET-123456",
        "Authorization: Basic dG9rLVNFQ1JFVC0xMjM0NTY=",
        "http://influx:8086/write?db=iocgw&token=tok-SECRET-123456&precision=ms",
        "sent Bearer tok-SECRET-123456 to the API",
        "POST https://api.telegram.org/bot123456789:AAH-SECRET_x9/sendMessage failed: 502",
    ],
)
def test_credentials_are_redacted(text: str) -> None:
    out = redact(text)
    assert "SECRET" not in out and "dG9rLVNFQ1JFVC0xMjM0NTY" not in out and "[redacted]" in out


def test_ordinary_lines_are_left_alone() -> None:
    line = "hub connected to 127.0.0.1:1883; token bucket refilled for 3 targets"
    assert redact(line) == line


def test_the_filter_cleans_messages_and_tracebacks() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(RedactSecrets())
    log = logging.getLogger("test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("bad request %r", b"Authorization: Bearer tok-SECRET-123456")
        try:
            raise ValueError("while reading b'Authorization: Bearer tok-SECRET-654321'")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    assert len(records) == 2 and all("SECRET" not in r for r in records)
    assert "ValueError" in records[1]  # the traceback is kept, only the credential goes
