"""Stage and reservoir-level forecasts, and the warnings they give before a level is reached.

``base`` holds the shared vocabulary (a forecast, its points, a crossing); ``config`` the schema; ``station`` fits
and runs a river station's model (persistence, and a regression on its own changes, its upstream gauges and its
basin rain, kept per horizon only where it beats persistence on held-out history; ``features``, ``travel``,
``bands``, ``persistence``, ``linalg`` and ``align`` serve it); ``reservoir`` the mass balance; ``crossing`` when a
forecast reaches a level and with what confidence; ``skill`` the scores. Those are pure: no I/O, no clock reads, no
numpy. ``store`` writes and reads forecasts in InfluxDB and ``service`` is the hub's job that refits and issues.
Documented in docs/forecast.md.
"""
