"""Public-warning channels, one module per channel, registered by ``type`` in ``CHANNELS``."""

from hub.warn.channels.base import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.channels.registry import CHANNELS, build_channel

__all__ = ["CHANNELS", "Channel", "ChannelConfig", "ChannelError", "Receipt", "build_channel"]
