"""The base of every sensor driver's settings (kept apart so driver config modules can import it alone)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DriverConfig(BaseModel):
    """Base of every driver's settings; subclasses add ``type: Literal["<key>"]`` and their fields."""

    model_config = ConfigDict(extra="forbid")
