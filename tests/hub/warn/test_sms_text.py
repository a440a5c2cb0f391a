"""SMS text: the unaccented GSM-7 form, septet and UCS-2 unit counts, and the parts a long text splits into."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.warn.sms_text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    PER_PART,
    SINGLE,
    fit_sms,
    length,
    plan_sms,
    to_gsm7,
    unaccent,
)

VI = "CẢNH BÁO LŨ: Sông Hương tại Kim Long 3,62 m, trên BĐ3. Người dân vùng trũng di dời đồ đạc."
# Every Vietnamese vowel with every tone, both cases, and đ.
VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # huyền, sắc, hỏi, ngã, nặng
ALL_VI = "".join(unicodedata.normalize("NFC", v + t) for v in VOWELS + VOWELS.upper() for t in TONES) + "đĐ"


def test_unaccent_drops_every_tone_and_vowel_mark():
    assert unaccent(VI) == "CANH BAO LU: Song Huong tai Kim Long 3,62 m, tren BD3. Nguoi dan vung trung di doi do dac."
    bare = unaccent(ALL_VI)
    base = "aaaeeiooouuy"  # the vowel marks go too: ă â -> a, ê -> e, ô ơ -> o, ư -> u
    assert bare == "".join(v for v in base + base.upper() for _ in TONES) + "dD"
    assert bare.isascii()


def test_decomposed_input_is_unaccented_the_same():
    assert unaccent(unicodedata.normalize("NFD", VI)) == unaccent(VI)


def test_gsm7_keeps_the_alphabet_and_substitutes_the_rest():
    assert to_gsm7("Mực nước “3,62 m” – xem… 25°C") == 'Muc nuoc "3,62 m" - xem... 25oC'
    assert to_gsm7("{x} [y] ~ \\ | ^ € @ £ $ _") == "{x} [y] ~ \\ | ^ € @ £ $ _"
    assert to_gsm7("中文 🌊") == "?? ?"


def test_septets_count_extension_characters_twice():
    assert length("abc", "gsm7") == 3
    assert length("{}[]~\\|^€", "gsm7") == 18
    assert length("🌊a", "ucs2") == 3  # outside the BMP: a surrogate pair


@pytest.mark.parametrize(
    ("encoding", "ch"),
    [("gsm7", "a"), ("ucs2", "ế")],
)
def test_single_and_concatenated_sizes(encoding, ch):
    single, per_part = SINGLE[encoding], PER_PART[encoding]
    assert plan_sms(ch * single, encoding).parts == [ch * single]
    over = plan_sms(ch * (single + 1), encoding).parts
    assert [len(p) for p in over] == [per_part, single + 1 - per_part]
    assert len(plan_sms(ch * per_part * 3, encoding).parts) == 3
    assert len(plan_sms(ch * (per_part * 3 + 1), encoding).parts) == 4


def test_an_escape_pair_never_straddles_parts():
    text = "a" * 152 + "€" + "b" * 10  # the € would take septets 153 and 154
    parts = plan_sms(text, "gsm7").parts
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")


def test_a_surrogate_pair_never_straddles_parts():
    text = "ả" * 66 + "🌊" + "ả" * 10
    parts = plan_sms(text, "ucs2").parts
    assert parts[0] == "ả" * 66
    assert parts[1].startswith("🌊")


def test_ucs2_keeps_the_vietnamese_text_composed():
    plan = plan_sms(unicodedata.normalize("NFD", VI), "ucs2")
    assert plan.text_as_sent == VI
    assert plan.units == len(VI)
    assert len(plan.parts) == 2  # 94 characters: over 70


def test_gsm7_plan_sends_the_unaccented_text():
    plan = plan_sms(VI, "gsm7")
    assert plan.text_as_sent == unaccent(VI)
    assert plan.parts == [unaccent(VI)]


def test_fit_cuts_a_long_text_to_the_part_limit_with_an_ellipsis():
    long_text = "Mưa lớn " * 60
    plan = fit_sms(long_text, "ucs2", 2)
    assert len(plan.parts) == 2
    assert plan.text_as_sent.endswith("…")
    assert long_text.startswith(plan.text_as_sent[:-1])
    assert fit_sms("ngắn", "ucs2", 1).text_as_sent == "ngắn"
    assert fit_sms("x" * 400, "gsm7", 1).text_as_sent == "x" * 157 + "..."
    with pytest.raises(ValueError, match="at least 1"):
        fit_sms("x", "gsm7", 0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_gsm7_form_is_in_the_alphabet_and_parts_fit(text):
    plan = plan_sms(text, "gsm7")
    assert set(plan.text_as_sent) <= GSM7_BASIC | GSM7_EXTENSION
    assert "".join(plan.parts) == plan.text_as_sent
    limit = SINGLE["gsm7"] if len(plan.parts) == 1 else PER_PART["gsm7"]
    assert all(0 < length(p, "gsm7") <= limit for p in plan.parts)
    assert plan_sms(plan.text_as_sent, "gsm7").text_as_sent == plan.text_as_sent  # idempotent


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=400))
def test_ucs2_parts_fit_and_reassemble(text):
    plan = plan_sms(text, "ucs2")
    assert "".join(plan.parts) == plan.text_as_sent == unicodedata.normalize("NFC", text)
    limit = SINGLE["ucs2"] if len(plan.parts) == 1 else PER_PART["ucs2"]
    for part in plan.parts:
        units = len(part.encode("utf-16-be")) // 2
        assert 0 < units <= limit
        part.encode("utf-16-be")  # whole characters: a lone surrogate would not encode


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=1500), st.sampled_from(["gsm7", "ucs2"]), st.integers(1, 5))
def test_fit_never_exceeds_max_parts(text, encoding, max_parts):
    plan = fit_sms(text, encoding, max_parts)
    assert len(plan.parts) <= max_parts
    assert "".join(plan.parts) == plan.text_as_sent
