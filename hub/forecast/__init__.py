"""Stage and reservoir-level forecasts, and the warnings they give before a level is reached.

``base`` holds the shared vocabulary (a forecast, its points, a crossing); the methods, fitting and skill scores
live beside it, one module each. Pure: no I/O and no clock reads; the hub's forecast job (``service``) reads
history from InfluxDB, runs them and writes the results. Documented in docs/forecast.md.
"""
