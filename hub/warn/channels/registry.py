"""Registry of public-warning channels, keyed by the ``type`` that channel configs use."""

from __future__ import annotations

from typing import Any

from hub.warn.channels.base import Channel, ChannelConfig
from plumbing.plugins import Registry

CHANNELS: Registry[Channel] = Registry("warning channel", docs="docs/warnings.md#channels")


def build_channel(config: ChannelConfig) -> Channel:
    """The channel for one config (its ``type`` picks the class)."""
    return CHANNELS.plugin(config.type)(config)  # type: ignore[attr-defined]


def channel_config_union() -> Any:
    """The discriminated union of every registered channel's config, for the warnings config schema."""
    return CHANNELS.config_union()
