"""The test harness: real Mosquitto, InfluxDB and hub processes in temp folders, for tests, benchmarks and the demo.

Not part of the installed package: it runs from a source checkout.
"""
