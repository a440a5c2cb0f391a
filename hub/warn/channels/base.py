"""What every public-warning channel shares: its config base, its interface, its error and its receipt."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.warn.message import WarningMessage

ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class ChannelError(Exception):
    """A delivery attempt failed; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s  # the provider's own wish (HTTP Retry-After, a rate-limit reply)


@dataclass(frozen=True)
class Receipt:
    """What the provider said when it took the message.

    ``state`` is ``sent`` when the provider accepted it and a delivery report may follow (SMS through Kannel),
    ``delivered`` when accepting it is delivery (a Telegram message in the chat, a siren that acknowledged).
    ``provider_id`` is the provider's own id for it, if it gives one (for matching its delivery report).
    """

    state: Literal["sent", "delivered"]
    provider_id: str | None = None
    detail: str = ""


class ChannelConfig(BaseModel):
    """Base of every channel's settings; subclasses add ``type: Literal["<key>"]`` and their fields."""

    model_config = ConfigDict(extra="forbid")

    name: ChannelName = Field(description="Unique channel name that policies refer to, e.g. sms-hue")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Longest one delivery attempt may take")
    rate_limit_per_s: float = Field(
        10.0, gt=0, description="Messages per second this channel may send (the provider's or the carrier's limit)"
    )


class Channel(ABC):
    """Delivers public warnings over one channel.

    Lifecycle: ``start()`` once before the first send (may raise; the sender retries it later), ``send(message)``
    for each message, ``close()`` once at shutdown. ``send`` returns a Receipt only when the provider has the
    message and raises ChannelError otherwise; it never retries by itself and never waits longer than the config's
    ``timeout_s``: the outbox owns queueing, retries, rate limits and the record of each message's state.
    """

    KEY: ClassVar[str]

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def reports(self) -> bool:
        """The provider reports delivery back to the hub (Kannel's dlr-url): a send that a crash cut short can then
        wait for its report instead of being sent again. Default: no reports."""
        return False

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open sessions, fetch tokens; default: nothing to do."""

    @abstractmethod
    async def send(self, message: WarningMessage) -> Receipt:
        """Deliver one message; raise ChannelError on failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions; default: nothing to do."""
