"""The row parser: typed rows from any input, or a clear reason; never an exception."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.feeds.formats import FeedFileError, parse_bytes
from hub.feeds.importers import FEED_KINDS
from hub.feeds.rows import FeedbackRow, IndicatorRow, PublicServiceRow, parse_row

ROW_MODELS = {kind: FEED_KINDS.plugin(kind).row_model for kind in FEED_KINDS.names()}

COLUMNS = sorted(set().union(*(m.model_fields for m in ROW_MODELS.values())) | {"junk", ""})
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["01", "00004", "2025-07", "2025-Q3", "M", "Q", "official", "resolved", "1e400", "NaN", "-1"]),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(list(ROW_MODELS.values())), record=st.dictionaries(st.sampled_from(COLUMNS), JUNK))
def test_junk_records_give_a_row_or_a_reason(model: Any, record: dict[str, Any]) -> None:
    result = parse_row(model, record)
    if isinstance(result, str):
        assert result.strip()
    else:
        assert isinstance(result, model)


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(["csv", "json", "xlsx"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: ("# iocgw-feed: kind=indicators; format_version=1\n" + t).encode()),
    ),
)
def test_junk_files_are_read_or_refused_with_a_reason(fmt: str, body: bytes) -> None:
    try:
        doc = parse_bytes(body, "junk", fmt)
    except FeedFileError as exc:
        assert str(exc).strip()
        return
    for number, record in doc.records:
        assert number >= 1
        assert isinstance(parse_row(IndicatorRow, record), IndicatorRow | str)


def test_public_service_parts_must_add_up() -> None:
    reason = parse_row(
        PublicServiceRow,
        {
            "admin_code": "46",
            "period_type": "M",
            "period": "2025-07",
            "received": "10",
            "carried_over": "2",
            "resolved_on_time": "5",
            "resolved_late": "1",
            "in_progress_on_time": "3",
            "in_progress_late": "2",
        },
    )
    assert reason == "resolved + in progress (11) must equal received + carried_over (12) (QĐ 766)"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"admin_code": 1}, "admin_code: given as a number (1)"),
        ({"value": "12,5"}, "value: Input should be a valid number"),
        ({"period": "2025-13"}, "month 13 does not exist"),
        ({"period_type": "W"}, "period_type: Input should be 'M', 'Q', 'H' or 'Y'"),
        ({"indicator_code": "Dân số"}, "indicator_code: String should match pattern"),
        ({"extra": "x"}, "extra: Extra inputs are not permitted"),
        ({"value": "inf"}, "value: must be a finite number"),
    ],
)
def test_indicator_row_reasons(record: dict[str, Any], reason: str) -> None:
    base = {"indicator_code": "population", "admin_code": "46", "period_type": "M", "period": "2025-07", "value": "1"}
    result = parse_row(IndicatorRow, {**base, **record})
    assert isinstance(result, str) and reason in result


def test_feedback_row_reads_local_time_and_checks_resolution() -> None:
    row = parse_row(
        FeedbackRow,
        {
            "record_id": 7,
            "received_at": "2025-08-01 10:00",
            "admin_code": "46",
            "category": "road_damage",
            "status": "resolved",
            "resolved_at": "2025-08-01T05:00:00Z",
        },
    )
    assert isinstance(row, FeedbackRow) and row.received_at.utcoffset().total_seconds() == 7 * 3600
    bad = parse_row(
        FeedbackRow,
        {
            "record_id": "x",
            "received_at": "2025-08-01T10:00:00+07:00",
            "admin_code": "46",
            "category": "road_damage",
            "status": "resolved",
        },
    )
    assert bad == "a resolved record needs resolved_at"


def test_csv_row_numbers_are_the_lines_a_person_finds() -> None:
    body = b'# iocgw-feed: kind=indicators; format_version=1\na,b\n1,2\n\n3,"x\ny"\n5,6\n'
    assert [n for n, _ in parse_bytes(body, "t.csv", "csv").records] == [3, 5, 7]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"# iocgw-feed: kind=indicators\na\n", "no format_version"),
        (b"# iocgw-feed: kind=indicators; format_version=2\na\n", "format_version 2 is not supported"),
        (b"# iocgw-feed: kind=indicators; format_version=1\na,a\n", "column 'a' appears twice"),
        (b"\xff\xfe# iocgw", "not UTF-8"),
    ],
)
def test_unreadable_csv_files_say_why(body: bytes, error: str) -> None:
    with pytest.raises(FeedFileError, match=error):
        parse_bytes(body, "t.csv", "csv")


_CSV = (
    b"# iocgw-feed: kind=indicators; format_version=1\n"
    b"indicator_code,indicator_name,admin_code,period_type,period,value\n"
)


@pytest.mark.parametrize(
    ("body", "error", "rows"),
    [
        # Never closed: a lenient reader made lines 4-6 one row with the wrong fields (and 2 rows in all).
        (
            b'population,Dan so,46,Y,2021,1\npopulation,"Dan so,46,Y,2022,2\npopulation,x,46,Y,2023,3\n'
            b"population,x,46,Y,2024,4\n",
            r'line 4: unterminated quoted field: the " that opens a cell on line 4 is never closed',
            1,
        ),
        # Closed by the opening quote of a later cell.
        (
            b'population,Dan so,46,Y,2021,1\npopulation,"Dan so,46,Y,2022,2\npopulation,"x",46,Y,2023,3\n',
            r"line 4: unterminated quoted field: .* not closed on that line \(the cell would run over lines 4-5",
            1,
        ),
        # After a cell that rightly spans lines 3-4: the line of the quote, not of the record.
        (
            b'population,"Dan\nso",46,Y,2021,1\npopulation,x,46,Y,2022,"2\n',
            r"line 5: unterminated quoted field",
            1,
        ),
        (b'population,"Dan" so,46,Y,2021,1\n', r"line 3: text after the closing quote of a quoted cell", 0),
    ],
)
def test_a_bad_quote_is_one_error_at_its_line_with_the_rows_read_before(body: bytes, error: str, rows: int) -> None:
    with pytest.raises(FeedFileError, match=error) as exc:
        parse_bytes(_CSV + body, "t.csv", "csv")
    assert exc.value.rows == rows


def test_an_unterminated_quote_in_the_header_is_named_at_line_2() -> None:
    body = b'# iocgw-feed: kind=indicators; format_version=1\nindicator_code,"admin_code\npopulation,46\n'
    with pytest.raises(FeedFileError, match="line 2: unterminated quoted field"):
        parse_bytes(body, "t.csv", "csv")
