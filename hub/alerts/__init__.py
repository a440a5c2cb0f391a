"""The hub's alert engine; for now its pure domain rules (``hub.alerts.rules``), which the engine will call."""
