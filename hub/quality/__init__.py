"""Quality control of readings, per quantity and per station, as Delft-FEWS validates before anything uses a value.

Pure: no I/O, no clock reads. ``config`` (the checks' settings, from YAML), ``checks`` (one function per check),
``checker`` (the per-sensor state that runs them on a stream), ``completeness`` (received / expected per local day).
``completeness_job`` is the exception: the hub's periodic pass that counts stored readings through an InfluxDB
client it is given.
Documented in docs/quality.md.
"""
