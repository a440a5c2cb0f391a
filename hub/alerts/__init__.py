"""The hub's alert engine: pure hazard rules in ``hub.alerts.rules``, which alarms and notifiers build on."""
