"""Vietnamese mobile numbers as people write them: normalised to E.164, and refused with the reason otherwise."""

from __future__ import annotations

import pytest

from hub.warn.phone import normalise_vn_mobile


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("0905 123 456", "+84905123456"),
        ("0905.123.456", "+84905123456"),
        ("+84 91 234 5678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0084 35 123 4567", "+84351234567"),
        ("(078) 123-4567", "+84781234567"),
    ],
)
def test_mobile_numbers_in_their_usual_forms(text: str, e164: str) -> None:
    assert normalise_vn_mobile(text) == e164


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("02431234567", "landline"),
        ("01621234567", "renumbered in 2018"),
        ("0905 12345", "has 9"),
        ("09051234567", "has 11"),
        ("0612345678", "starts with 06"),
        ("0905l23456", "only digits"),
        ("905123456", "not a Vietnamese number"),
        ("", "not a Vietnamese number"),
    ],
)
def test_everything_else_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise_vn_mobile(text)
