"""Public-warning channels, one module per channel, registered by ``type`` in ``CHANNELS``."""

# Importing the channel modules registers them (after the base and the registry they import).
from hub.warn.channels import siren, sms_kannel, telegram, zalo  # noqa: F401 - registration side effect
from hub.warn.channels.base import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.channels.registry import CHANNELS, build_channel

__all__ = ["CHANNELS", "Channel", "ChannelConfig", "ChannelError", "Receipt", "build_channel"]
