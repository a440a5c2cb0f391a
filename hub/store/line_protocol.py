"""InfluxDB line protocol, written by hand: it is the hot path, and the format is small."""

from __future__ import annotations

import math

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": "", "\\": "\\\\"})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": "", "\\": "\\\\"})


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def escape_measurement(value: str) -> str:
    return value.translate(_MEASUREMENT_ESCAPES)


def field_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def format_field(value: float | int | bool | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("line protocol cannot carry NaN or infinity")
        return repr(value)
    return field_string(value)


def line(measurement: str, tags: dict[str, str], fields: dict[str, float | int | bool | str], ts_ms: int) -> str:
    """One point; tags are sorted by key as InfluxDB prefers, empty tag values left out."""
    tag_part = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if v)
    field_part = ",".join(f"{escape_tag(k)}={format_field(v)}" for k, v in fields.items())
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {ts_ms}"
