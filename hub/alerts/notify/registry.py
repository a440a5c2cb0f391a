"""Registry of notifiers, keyed by the ``type`` that target configs use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.alerts.notify.base import Notifier, NotifierConfig
from plumbing.plugins import Registry

NOTIFIERS: Registry[Notifier] = Registry("notifier", docs="docs/notifications.md#targets")


def register_notifier(key: str, config_cls: type[NotifierConfig]) -> Callable[[type[Notifier]], type[Notifier]]:
    """Class decorator: ``@register_notifier("webhook", WebhookConfig)``."""
    return NOTIFIERS.register(key, config_cls)


def notifier_keys() -> list[str]:
    return NOTIFIERS.names()


def notifier_class(key: str) -> type[Notifier]:
    return NOTIFIERS.plugin(key)


def build_notifier(config: NotifierConfig) -> Notifier:
    """The notifier for one target config (its ``type`` picks the class)."""
    return notifier_class(config.type)(config)  # type: ignore[attr-defined]


def notifier_config_union() -> Any:
    """The discriminated union of every registered notifier's config, for the notify config schema."""
    return NOTIFIERS.config_union()
