"""Who receives public warnings: subscribers per administrative unit and role, loaded from a CSV file.

One row per subscriber (a resident, a commune official, a dam operator) or per device (a commune loudspeaker, a
siren). The unit is a GSO code; a code retired in the 2025 reorganisation is mapped to its successor and counted,
a code that was split is refused (which of the new communes the person lives in is not known). A bad row is refused
with its line and reason and the rest of the list is used: one typo must not silence a commune.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.feeds.units import AdminUnits, UnitError
from hub.warn.phone import normalise_vn_mobile
from wire.messages import Identifier

Role = Literal["resident", "commune_official", "dam_operator", "loudspeaker", "siren"]
COLUMNS = ("id", "name", "role", "admin_code", "phone", "zalo_user_id", "telegram_chat_id", "node_id")


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier = Field(description="Stable subscriber id: the idempotency key of their messages contains it")
    name: str = Field("", max_length=120)
    role: Role
    admin_code: str = Field(description="Current GSO code of the unit (commune, or province)")
    province_code: str = ""
    phone: str | None = Field(None, description="E.164 (+84...), for SMS and Zalo ZNS")
    zalo_user_id: str | None = Field(None, max_length=64)
    telegram_chat_id: str | None = Field(None, max_length=64)
    node_id: Identifier | None = Field(None, description="Edge node of a loudspeaker or siren")
    mapped_from: str | None = Field(None, description="The retired code the list gave, if it was mapped")

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return normalise_vn_mobile(str(value))


@dataclass
class RecipientList:
    recipients: list[Recipient] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    mapped: int = 0  # rows whose retired code was mapped to its successor

    def by_id(self) -> dict[str, Recipient]:
        return {r.id: r for r in self.recipients}

    def in_area(self, area: str) -> list[Recipient]:
        """Recipients of a commune (5-digit code) or of every commune of a province (2 digits)."""
        if len(area) == 2:
            return [r for r in self.recipients if r.province_code == area or r.admin_code == area]
        return [r for r in self.recipients if r.admin_code == area]

    def summary(self) -> dict[str, object]:
        return {
            "recipients": len(self.recipients),
            "by_role": dict(Counter(r.role for r in self.recipients)),
            "rejected": len(self.rejected),
            "mapped": self.mapped,
        }


def _blank_to_none(row: dict[str, str | None]) -> dict[str, str | None]:
    return {k: (v.strip() if isinstance(v, str) and v.strip() else None) for k, v in row.items()}


def parse_recipients(text: str, units: AdminUnits, source: str = "recipients") -> RecipientList:
    """Rows of a CSV (header: ``COLUMNS``, any order; ``id``, ``role``, ``admin_code`` required)."""
    out = RecipientList()
    reader = csv.DictReader(text.splitlines())
    missing = {"id", "role", "admin_code"} - set(reader.fieldnames or ())
    if missing:
        out.rejected.append((1, f"{source}: header lacks {', '.join(sorted(missing))}"))
        return out
    unknown = set(reader.fieldnames or ()) - set(COLUMNS)
    if unknown:
        out.rejected.append((1, f"{source}: unknown columns {', '.join(sorted(unknown))} (ignored)"))
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        row = _blank_to_none({k: v for k, v in raw.items() if k in COLUMNS})
        code = row.get("admin_code") or ""
        try:
            unit = units.resolve(code)
        except UnitError as exc:
            out.rejected.append((line, f"admin_code: {exc}"))
            continue
        try:
            r = Recipient.model_validate(
                {
                    **row,
                    "name": row.get("name") or "",
                    "admin_code": unit.code,
                    "province_code": unit.province_code,
                    "mapped_from": code if code != unit.code else None,
                }
            )
        except (ValidationError, ValueError) as exc:
            out.rejected.append((line, _reason(exc)))
            continue
        if r.id in seen:
            out.rejected.append((line, f"id {r.id} repeats line {seen[r.id]}"))
            continue
        if r.role in ("loudspeaker", "siren") and r.node_id is None:
            out.rejected.append((line, f"a {r.role} needs node_id (the edge node that drives it)"))
            continue
        seen[r.id] = line
        out.mapped += r.mapped_from is not None
        out.recipients.append(r)
    return out


def load_recipients(path: Path, units: AdminUnits) -> RecipientList:
    return parse_recipients(path.read_text(encoding="utf-8-sig"), units, str(path))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "row"
        return f"{where}: {e['msg'].removeprefix('Value error, ')}"
    return str(exc)
