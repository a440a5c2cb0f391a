"""The central hub: MQTT ingest, InfluxDB store, device registry, health and metrics."""
