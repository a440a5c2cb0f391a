"""Vietnamese warnings as SMS: the unaccented GSM-7 form, the UCS-2 form, and how many parts each takes.

GSM 03.38's default alphabet has no Vietnamese letters, so a GSM-7 message drops every tone and vowel mark (and
writes đ as d): cheaper (160 characters a part) but harder to read ("lũ" and "lú" both become "lu"). UCS-2 keeps
the text whole at 70 units a part. Concatenated parts lose 7 septets or 3 units each to the UDH header (153 / 67).
The gateway (Kannel) splits the message itself; these plans say what it will do, so that the channel can cap the
parts (each one is billed) and the tests can check what arrived.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["ucs2", "gsm7"]

# GSM 03.38 default alphabet, table order (0x1B, the escape to the extension table, left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape: each costs two septets, and the pair must stay in one part.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm7": 160, "ucs2": 70}  # septets / UTF-16 units in one unsplit SMS
PER_PART = {"gsm7": 153, "ucs2": 67}  # the same in each part of a concatenated SMS (6-byte UDH)

# Characters people paste into warnings (from Word, a web page) that GSM-7 lacks, and what reads the same.
_SUBSTITUTES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "\t": " ",
    "\u00b0": "o",  # "25°C" -> "25oC": how unaccented Vietnamese SMS write it
    "\u2022": "-",
    "\u00d7": "x",
    "`": "'",
}
_UNKNOWN = "?"


@dataclass(frozen=True)
class SmsPlan:
    """What goes to the gateway for one text in one encoding, and the parts the phone will receive."""

    encoding: Encoding
    text_as_sent: str
    parts: list[str]

    @property
    def units(self) -> int:
        """Septets (GSM-7) or UTF-16 units (UCS-2) of the whole text."""
        return length(self.text_as_sent, self.encoding)


def unaccent(text: str) -> str:
    """``text`` without diacritics: every tone and vowel mark dropped, đ/Đ written d/D."""
    text = text.replace("đ", "d").replace("Đ", "D")
    # Canonical decomposition puts each mark on its own code point (ệ -> e + circumflex + dot below).
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare)


def to_gsm7(text: str) -> str:
    """The unaccented form of ``text`` in which every character is in the GSM 03.38 alphabet or its extension."""
    out: list[str] = []
    for ch in unaccent(text):
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
        elif ch in _SUBSTITUTES:
            out.append(_SUBSTITUTES[ch])
        else:
            # A letter of another script may still decompose to a base letter (ǅ -> DŽ -> D...), else "?".
            folded = unicodedata.normalize("NFKD", ch)
            kept = "".join(c for c in folded if c in GSM7_BASIC and not unicodedata.combining(c))
            out.append(kept or _UNKNOWN)
    return "".join(out)


def char_units(ch: str, encoding: Encoding) -> int:
    """What one character costs: 2 septets for an extension character, 2 UTF-16 units outside the BMP."""
    if encoding == "gsm7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def length(text: str, encoding: Encoding) -> int:
    """Septets or UTF-16 units of a text already in ``encoding``'s form."""
    return sum(char_units(ch, encoding) for ch in text)


def _split(text: str, encoding: Encoding, size: int) -> list[str]:
    # Whole characters only: an escape pair or a surrogate pair split across two parts shows as garbage on both.
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        width = char_units(ch, encoding)
        if used + width > size:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += width
    if current:
        parts.append("".join(current))
    return parts


def form(text: str, encoding: Encoding) -> str:
    """The text as it is sent in ``encoding``: unaccented GSM-7, or the Vietnamese text composed (NFC).

    NFC keeps what the reader sees; a decomposed text (ế as e + two marks) would cost three units a letter.
    """
    return to_gsm7(text) if encoding == "gsm7" else unicodedata.normalize("NFC", text)


def plan_sms(text: str, encoding: Encoding) -> SmsPlan:
    """The form sent and its parts: one part up to 160 septets / 70 units, else parts of 153 / 67."""
    sent = form(text, encoding)
    if length(sent, encoding) <= SINGLE[encoding]:
        return SmsPlan(encoding, sent, [sent] if sent else [])
    return SmsPlan(encoding, sent, _split(sent, encoding, PER_PART[encoding]))


def fit_sms(text: str, encoding: Encoding, max_parts: int) -> SmsPlan:
    """:func:`plan_sms`, with the text cut (ending in an ellipsis) where it would need more than ``max_parts``."""
    if max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    plan = plan_sms(text, encoding)
    if len(plan.parts) <= max_parts:
        return plan
    ellipsis = "..." if encoding == "gsm7" else "…"
    budget = (SINGLE[encoding] if max_parts == 1 else PER_PART[encoding] * max_parts) - length(ellipsis, encoding)
    kept: list[str] = []
    used = 0
    for ch in plan.text_as_sent:
        width = char_units(ch, encoding)
        if used + width > budget:
            break
        kept.append(ch)
        used += width
    cut = "".join(kept).rstrip() + ellipsis
    return SmsPlan(encoding, cut, plan_sms(cut, encoding).parts)
