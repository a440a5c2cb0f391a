"""JSON Schema files generated from the models, so third parties can validate without Python."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from wire.actuate import ActuateAck, ActuateCommand
from wire.messages import AckMessage, ConfigMessage, EventMessage, StatusMessage, TelemetryMessage

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "telemetry": TelemetryMessage,
    "status": StatusMessage,
    "event": EventMessage,
    "config": ConfigMessage,
    "ack": AckMessage,
    "actuate": ActuateCommand,
    "actuate_ack": ActuateAck,
}

# What JSON Schema cannot say and the hub still enforces (wire.messages.parse_message).
STRICT = (
    "The hub reads payloads strictly: a value of the wrong JSON type is refused, never converted; an integer field "
    "takes an integer written without a fraction (20, not 20.0); an object that repeats a key is refused."
)


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, deterministic so a test can compare with what is committed."""
    out = {}
    for name, model in SCHEMA_MODELS.items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://iocgw.example/schemas/v1/{name}.schema.json"
        schema["$comment"] = STRICT
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
