"""A logging filter that takes credentials out of every log line, whoever wrote it.

aiohttp logs a request it cannot parse with the start of the offending bytes, and those can hold an
``Authorization`` header; an exception message can quote a URL with a token in it. The filter sits on the log
handlers, so it sees records from every library, and rewrites the message and any traceback before they are written.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    # "Authorization: Bearer abc", "authorization=Token abc", "Authorization: Basic abc=="
    (re.compile(r"(?i)(authorization\s*[:=]\s*(?:bearer|token|basic)?\s*)[^\s'\",\\]+"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(bearer|token)(\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1\2[redacted]"),
    # ?token=..., &password=... in a URL
    (re.compile(r"(?i)([?&](?:token|access_token|password|secret|key)=)[^&\s'\"]+"), r"\1[redacted]"),
    # Telegram's Bot API puts the bot's token in the path: https://api.telegram.org/bot123456:AAH.../sendMessage
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
