"""MQTT ingest: consume with manual acknowledgement, validate, drop duplicates, batch for the store."""
