"""Typed rows of the feed kinds (format version 1), and turning any raw record into a row or a clear reason.

A row model is the schema of one feed kind's files, so it belongs to that kind's plugin: the importer registered in
``hub.feeds.importers.FEED_KINDS`` names it as ``row_model``; there is no second list of kinds here.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hub.feeds.indicators import info, unit_key
from hub.feeds.periods import VN_TZ, PeriodType, period_start

_SLUG = r"^[a-z][a-z0-9_.]{0,63}$"


def _blank_to_none(data: Any) -> Any:
    """Spreadsheets and CSV spell "no value" as an empty cell."""
    if isinstance(data, dict):
        return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
    return data


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        return _blank_to_none(data)

    @field_validator("admin_code", mode="before", check_fields=False)
    @classmethod
    def _code_is_text(cls, value: Any) -> Any:
        if isinstance(value, (bool, int | float)):
            raise ValueError(
                f"given as a number ({value!r}): GSO codes keep their leading zeros, store the column as text"
            )
        return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class _Periodic(_Row):
    admin_code: str = Field(max_length=16)
    period_type: PeriodType
    period: str = Field(max_length=16)

    @field_validator("period", mode="before")
    @classmethod
    def _period_text(cls, value: Any) -> Any:
        # A spreadsheet turns "2025" into the number 2025.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _period_parses(self) -> _Periodic:
        period_start(self.period_type.value, self.period)
        return self

    @property
    def start(self) -> date:
        return period_start(self.period_type.value, self.period)


class IndicatorRow(_Periodic):
    """A socio-economic indicator value (NĐ 09/2019/NĐ-CP reporting regime)."""

    indicator_code: str = Field(pattern=_SLUG)
    indicator_name: str | None = Field(None, max_length=300)
    value: float
    plan: float | None = Field(None, description="the plan target, or the budget for spending indicators")
    unit: str | None = Field(None, max_length=40)
    breakdown: str | None = Field(None, max_length=120, description="e.g. sex=female; stored as its own indicator")
    source_agency: str | None = Field(None, max_length=200)
    status: Literal["preliminary", "official"] = "official"

    _value_finite = field_validator("value", "plan")(_finite)

    @field_validator("unit")
    @classmethod
    def _unit_of_indicator(cls, value: str | None, validated: ValidationInfo) -> str | None:
        # A value in another unit (kg for people, nghìn người for người) would be stored as if in the catalogue's.
        code = validated.data.get("indicator_code")
        expected = info(code).unit if code else ""
        if value is None or not expected:
            return value
        if unit_key(value) != unit_key(expected):
            raise ValueError(
                f"{value!r} is not the unit of {code}: expected {expected!r} (hub/feeds/data/indicators.csv); "
                f"give the value in {expected!r}, or leave unit empty"
            )
        return expected

    @property
    def indicator(self) -> str:
        """The series name: the code, with the breakdown (if any) so that totals stay clean."""
        return f"{self.indicator_code}[{self.breakdown}]" if self.breakdown else self.indicator_code


class PublicServiceRow(_Periodic):
    """One-stop public-service dossiers of a unit and period (QĐ 766/QĐ-TTg of 2022)."""

    received: int = Field(ge=0)
    carried_over: int = Field(ge=0)
    resolved_early: int = Field(0, ge=0)
    resolved_on_time: int = Field(ge=0)
    resolved_late: int = Field(ge=0)
    in_progress_on_time: int = Field(ge=0)
    in_progress_late: int = Field(ge=0)
    received_online: int | None = Field(None, ge=0)
    satisfaction_pct: float | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _parts_add_up(self) -> PublicServiceRow:
        parts = (
            self.resolved_early
            + self.resolved_on_time
            + self.resolved_late
            + self.in_progress_on_time
            + self.in_progress_late
        )
        to_process = self.received + self.carried_over
        if parts != to_process:
            raise ValueError(
                f"resolved + in progress ({parts}) must equal received + carried_over ({to_process}) (QĐ 766)"
            )
        if self.received_online is not None and self.received_online > self.received:
            raise ValueError(f"received_online ({self.received_online}) exceeds received ({self.received})")
        return self


class FeedbackRow(_Row):
    """One citizen report (hotline 1022, apps)."""

    record_id: str = Field(min_length=1, max_length=80)
    received_at: datetime
    admin_code: str = Field(max_length=16)
    category: str = Field(pattern=_SLUG)
    status: Literal["received", "processing", "resolved", "rejected"]
    resolved_at: datetime | None = None
    handling_unit: str | None = Field(None, max_length=200)
    channel: str | None = Field(None, max_length=40)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    summary: str | None = Field(None, max_length=2000)

    @field_validator("record_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("received_at", "resolved_at")
    @classmethod
    def _local_if_naive(cls, value: datetime | None) -> datetime | None:
        # Feeds written by hand in Vietnam leave the offset out; they mean local time.
        return value.replace(tzinfo=VN_TZ) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _resolution(self) -> FeedbackRow:
        if self.resolved_at is not None and self.resolved_at < self.received_at:
            raise ValueError("resolved_at is before received_at")
        if self.status == "resolved" and self.resolved_at is None:
            raise ValueError("a resolved record needs resolved_at")
        return self


def explain(exc: ValidationError) -> str:
    """One line naming each bad field and why."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {msg}" if field else msg)
    return "; ".join(parts)


def parse_row(model: type[BaseModel], record: dict[str, Any]) -> BaseModel | str:
    """The typed row, or the reason it is not one (never raises for any input)."""
    if "__not_an_object__" in record:
        return f"a row must be an object, got {record['__not_an_object__']}"
    if "__extra_cells__" in record:
        return f"{record['__extra_cells__']} more cell(s) than the header has columns"
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        return explain(exc)
    except (ValueError, TypeError, OverflowError) as exc:  # raised outside pydantic's wrapping, e.g. by a property
        return f"{type(exc).__name__}: {exc}"
