"""What a channel delivers: one warning to one recipient, already worded, with the key that makes it idempotent."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SmsEncoding = Literal["ucs2", "gsm7"]


class WarningMessage(BaseModel):
    """One public warning on its way to one recipient over one channel; what the outbox stores and a channel sends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        description="Idempotency key, '<alarm id>.<revision>.<transition>/<recipient id>/<channel>': the same alarm "
        "change never reaches the same person twice on one channel, across restarts and crashes"
    )
    channel: str = Field(description="Name of the channel (its config's name) that carries it")
    recipient_id: str = Field(description="The subscriber's id in the recipient list")
    address: str = Field(
        description="Where the channel delivers: an E.164 phone number (+849...), a Telegram chat id, a Zalo user "
        "id, an edge node id for a loudspeaker or siren"
    )
    text_vi: str = Field(description="The warning in Vietnamese, as the recipient reads or hears it")
    text_en: str = Field("", description="The same in English, for channels and recipients that take it")
    alarm_id: str
    transition: str = Field(description="created, escalated, updated, cleared, ... (hub.alerts.alarm.Transition)")
    hazard: str = Field(description="flood, rain, dam, fire, ...: the alarm's rule family")
    severity: str
    area: str = Field(description="GSO code of the administrative unit the warning is for")
    created_at: AwareDatetime
    sms_encoding: SmsEncoding = Field(
        "ucs2", description="For SMS: UCS-2 keeps the diacritics (70 characters a part), GSM-7 drops them (160)"
    )
    audio: str | None = Field(None, description="For loudspeakers: the stored audio file to play, if any")
    siren: Literal["on", "off", "test"] | None = Field(None, description="For sirens: what the relay does")
