"""Vietnamese mobile numbers: every usual way of writing one, and each kind of wrong one refused with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.warn.phone import normalise_vn_mobile


@pytest.mark.parametrize(
    "text",
    ["0905123456", "0905 123 456", "0905.123.456", "0905-123-456", "84905123456", "+84905123456", "+84 905 123 456"],
)
def test_usual_forms_normalise_to_e164(text):
    assert normalise_vn_mobile(text) == "+84905123456"


@pytest.mark.parametrize("prefix", ["3", "5", "7", "8", "9"])
def test_every_post_2018_mobile_prefix(prefix):
    assert normalise_vn_mobile(f"0{prefix}12345678") == f"+84{prefix}12345678"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0243 8253 536", "landline"),  # Hà Nội
        ("+84 236 382 2222", "landline"),  # Đà Nẵng
        ("01621234567", "renumbered in 2018"),
        ("+841621234567", "renumbered in 2018"),
        ("090512345", "10 digits"),
        ("09051234567", "10 digits"),
        ("0905 12a 456", "only digits"),
        ("0605123456", "starts with 06"),
        ("0105123456", "starts with 01"),
        ("905123456", "not a Vietnamese number"),
        ("+1 415 555 0100", "not a Vietnamese number"),
        ("", "not a Vietnamese number"),
    ],
)
def test_wrong_numbers_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        normalise_vn_mobile(text)


@given(
    st.sampled_from("35789"),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.sampled_from(["0", "84", "+84"]),
)
def test_any_mobile_in_any_form_round_trips(first, rest, lead):
    e164 = normalise_vn_mobile(f"{lead}{first}{rest}")
    assert e164 == f"+84{first}{rest}"
    assert normalise_vn_mobile(e164) == e164
