"""The ``warnings`` section of the hub config: recipients, channels, policies and delivery limits (docs/warnings.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hub.secret import Secret
from hub.warn.channels import CHANNELS, ChannelConfig
from hub.warn.policy import Policy


def _channel_config(value: Any) -> Any:
    """Validated by the class its ``type`` names, looked up when the config is read (not when this module is
    imported), so every registered channel is known, whichever package registered it."""
    if isinstance(value, ChannelConfig) or not isinstance(value, dict):
        return value
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in CHANNELS:
        known = ", ".join(CHANNELS.names()) or "none registered"
        raise ValueError(f"unknown channel type {kind!r}; the channel types are: {known}")
    return CHANNELS.config(kind).model_validate(value)


AnyChannelConfig = Annotated[ChannelConfig, BeforeValidator(_channel_config)]


class WarningsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipients: Path | None = Field(
        None, description="CSV of subscribers and devices (docs/warnings.md#recipients); relative to the hub config"
    )
    channels: list[AnyChannelConfig] = Field(default_factory=list, description="Named channels; 'type' picks one")
    policies: list[Policy] = Field(default_factory=list, description="Which alarms go to whom, how")
    link_base_url: str = Field(
        "", description="Public status page address appended to every message (keep it short: SMS parts are 70 chars)"
    )
    cap_sender: str = Field(
        "ioc@example.gov.vn", min_length=3, description="CAP 'sender': the province IOC's id, e.g. ioc@hue.gov.vn"
    )
    sender_name: str = Field("", description="CAP 'senderName' in Vietnamese, e.g. 'Trung tâm IOC tỉnh Huế'")
    sender_name_en: str = Field("", description="CAP 'senderName' in English")
    public_base_url: str = Field(
        "", description="The hub's public address (e.g. https://ioc.hue.gov.vn): the Atom feed's links are under it"
    )
    retry_initial_s: float = Field(5.0, gt=0, description="Wait before the first retry; doubles with each failure")
    retry_max_s: float = Field(300.0, gt=0, description="Longest wait between retries")
    max_age_s: float = Field(
        6 * 3600.0, gt=0, description="A message still failing this long after it was queued is marked failed"
    )
    reconcile_s: float = Field(
        120.0,
        gt=0,
        description="After a crash, how long a message whose send was cut short waits for the provider's delivery "
        "report before it is sent again (channels that send reports only; the others resend at once)",
    )
    concurrency: int = Field(4, ge=1, le=64, description="Messages in flight per channel")
    dlr_token: Secret | None = Field(
        None,
        description="Shared secret (env or file, 16 characters or more) the SMS gateway puts in its delivery-report "
        "URL (the report endpoint has no operator token); unset: reports are refused",
    )

    @model_validator(mode="after")
    def _references(self) -> WarningsConfig:
        names = [c.name for c in self.channels]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"channel names used twice: {', '.join(twice)}")
        pnames = [p.name for p in self.policies]
        if len(set(pnames)) < len(pnames):
            raise ValueError("policy names must be unique")
        for p in self.policies:
            unknown = sorted(set(p.channels) - set(names))
            if unknown:
                raise ValueError(f"policy {p.name} names unknown channels: {', '.join(unknown)}")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self

    def channel(self, name: str) -> ChannelConfig:
        return next(c for c in self.channels if c.name == name)
