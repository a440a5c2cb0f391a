"""Registry of notifiers, keyed by the ``type`` that target configs use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Union

from pydantic import Field

from hub.alerts.notify.base import Notifier, NotifierConfig

_NOTIFIERS: dict[str, tuple[type[NotifierConfig], type[Notifier]]] = {}


def register_notifier(key: str, config_cls: type[NotifierConfig]) -> Callable[[type[Notifier]], type[Notifier]]:
    """Class decorator: ``@register_notifier("webhook", WebhookConfig)``."""

    def wrap(cls: type[Notifier]) -> type[Notifier]:
        if key in _NOTIFIERS:
            raise ValueError(f"notifier {key!r} registered twice")
        cls.KEY = key
        _NOTIFIERS[key] = (config_cls, cls)
        return cls

    return wrap


def notifier_keys() -> list[str]:
    return sorted(_NOTIFIERS)


def notifier_class(key: str) -> type[Notifier]:
    try:
        return _NOTIFIERS[key][1]
    except KeyError:
        raise KeyError(f"no notifier {key!r}; known: {', '.join(notifier_keys())}") from None


def build_notifier(config: NotifierConfig) -> Notifier:
    """The notifier for one target config (its ``type`` picks the class)."""
    return notifier_class(config.type)(config)  # type: ignore[attr-defined]


def notifier_config_union() -> Any:
    """The discriminated union of every registered notifier's config, for the notify config schema."""
    configs = tuple(cfg for cfg, _ in _NOTIFIERS.values())
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007 - built at run time
