"""Alarm notifications: targets (webhook, MQTT, e-mail, Grafana) and a durable dispatcher that routes, retries,
rate-limits and escalates. Importing this package registers every built-in notifier. See docs/notifications.md.
"""

from hub.alerts.notify.base import Notification, Notifier, NotifierConfig, NotifyError, notification_id
from hub.alerts.notify.config import NotifyConfig, Route
from hub.alerts.notify.dispatcher import Delivery, Dispatcher, TargetStats
from hub.alerts.notify.ratelimit import TokenBucket
from hub.alerts.notify.registry import (
    build_notifier,
    notifier_class,
    notifier_config_union,
    notifier_keys,
    register_notifier,
)

__all__ = [
    "Delivery",
    "Dispatcher",
    "Notification",
    "Notifier",
    "NotifierConfig",
    "NotifyConfig",
    "NotifyError",
    "Route",
    "TargetStats",
    "TokenBucket",
    "build_notifier",
    "notification_id",
    "notifier_class",
    "notifier_config_union",
    "notifier_keys",
    "register_notifier",
]
