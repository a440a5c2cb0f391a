"""Grafana dashboards, alert rules and provisioning as code (grafana-foundation-sdk, pushed with grafana-client)."""
