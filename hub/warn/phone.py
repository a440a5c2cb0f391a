"""Vietnamese mobile numbers: the forms people write them in, checked and normalised to E.164 (+84...).

Since the 2018 renumbering a mobile number is 0 followed by 9 digits, the first of them 3, 5, 7, 8 or 9; the old
11-digit 01xx numbers were moved into 03x, 05x, 07x, 08x. Landlines start with 02 (an area code). Only mobiles can
receive SMS or Zalo, so everything else is refused with the reason.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-()]")
MOBILE_PREFIXES = "35789"


def normalise_vn_mobile(text: str) -> str:
    """``+84`` and the 9 national digits; ValueError saying why ``text`` is not a Vietnamese mobile number."""
    raw = str(text).strip()
    digits = _SEPARATORS.sub("", raw)
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("0084"):
        national = digits[4:]
    elif digits.startswith("84") and len(digits) == 11:
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        raise ValueError(f"{raw!r}: not a Vietnamese number (write it as 0xxxxxxxxx or +84xxxxxxxxx)")
    if not national.isdigit() or not national.isascii():
        raise ValueError(f"{raw!r}: a phone number has only digits (and spaces, dots or dashes between them)")
    if national.startswith("2"):
        raise ValueError(f"{raw!r}: a landline (area code 02x): it cannot receive SMS")
    if len(national) == 10 and national.startswith("1"):
        raise ValueError(f"{raw!r}: an 11-digit 01xx number, renumbered in 2018 (0162 -> 032...): ask for the new one")
    if len(national) != 9:
        raise ValueError(f"{raw!r}: a mobile number has 10 digits (0 and 9 more), this has {len(national) + 1}")
    if national[0] not in MOBILE_PREFIXES:
        raise ValueError(f"{raw!r}: no Vietnamese mobile number starts with 0{national[0]}")
    return "+84" + national
