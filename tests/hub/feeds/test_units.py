"""The admin-unit reference: the 2025 province list, the old→new mapping, and every rejection kind."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from hub.feeds.units import DATA_DIR, UnitError, UnitLevel, UnitTableError, load_units

# domain.md section 5: the province codes since 2025-07-01.
CODES_2025 = re.findall(
    r"\d\d", "01 04 08 11 12 14 15 19 20 22 24 25 31 33 37 38 40 42 44 46 48 51 52 56 66 68 75 79 80 82 86 91 92 96"
)


def test_current_provinces_are_the_34_of_the_2025_reorganisation() -> None:
    units = load_units()
    provinces = sorted(c for c, u in units.current.items() if u.level is UnitLevel.PROVINCE)
    assert provinces == CODES_2025
    assert len([u for u in units.at(date(2025, 6, 30)) if u.level is UnitLevel.PROVINCE]) == 63
    assert len([u for u in units.at(date(2025, 7, 1)) if u.level is UnitLevel.PROVINCE]) == 34


def test_every_pre_2025_province_maps_to_exactly_one_current_one() -> None:
    units = load_units()
    for code in (u.code for u in units.units if u.level is UnitLevel.PROVINCE and not u.current):
        assert units.resolve(code).code in CODES_2025


@pytest.mark.parametrize(
    ("old", "new"),
    [("10", "15"), ("15", "15"), ("35", "37"), ("36", "37"), ("64", "52"), ("77", "79"), ("89", "91")],
)
def test_old_province_codes_map_to_the_new_province(old: str, new: str) -> None:
    unit = load_units().resolve(old)
    assert unit.code == new and unit.current


def test_old_commune_code_maps_to_the_ward_it_was_merged_into() -> None:
    unit = load_units().resolve("00013")
    assert (unit.code, unit.province_code, unit.level) == ("00004", "01", UnitLevel.COMMUNE)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("03", "sequential 01-34 province numbering is not GSO coding"),
        ("99", "unknown province code 99"),
        ("001", "district level was abolished"),
        ("1", "provinces have 2 digits, communes 5"),
        ("0000123", "provinces have 2 digits, communes 5"),
        ("4A", "not a GSO code (digits only)"),
        ("", "empty"),
        ("12345", "unknown commune code 12345"),
        ("00022", "was split between 00004"),
    ],
)
def test_unusable_codes_are_rejected_with_a_reason(code: str, reason: str) -> None:
    with pytest.raises(UnitError) as err:
        load_units().resolve(code)
    assert reason in str(err.value)


def test_a_retired_code_without_a_mapping_is_rejected(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    shutil.copytree(DATA_DIR, ref)
    mapping = ref / "mapping_2025.csv"
    mapping.write_text("".join(ln for ln in mapping.read_text().splitlines(True) if ",00010," not in ln))
    with pytest.raises(UnitError, match=r"commune code 00010 \(Phường Nguyễn Trung Trực.*retired and has no mapping"):
        load_units(ref).resolve("00010")
    assert load_units(ref).resolve("00013").code == "00004"


def test_a_mapping_to_a_code_that_is_not_current_is_a_reference_error(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    shutil.copytree(DATA_DIR, ref)
    with (ref / "mapping_2025.csv").open("a") as fh:
        fh.write("province,02,03,2025-07-01,bad\n")
    with pytest.raises(UnitTableError, match="03 is not a current province"):
        load_units(ref)


@pytest.mark.parametrize(("old", "new"), [("02", "08"), ("10", "15"), ("35", "37"), ("00013", "00004")])
def test_a_retired_code_is_mapped_before_the_reorganisation_and_refused_from_it(old: str, new: str) -> None:
    units = load_units()
    assert units.resolve(old, date(2025, 6, 1)).code == new
    with pytest.raises(
        UnitError, match=rf"code {old} \(.*\) was retired on 2025-07-01, merged into {new} .*under {new}"
    ):
        units.resolve(old, date(2025, 7, 1))
    assert units.resolve(new, date(2025, 7, 1)).code == new  # the current code, whatever the period
