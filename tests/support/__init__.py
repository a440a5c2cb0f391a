"""Helpers shared by the integration tests: real services, a hub process, in-process nodes, InfluxDB queries."""
