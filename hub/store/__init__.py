"""Where the hub keeps things: InfluxDB writer, spool, registry, dead letters."""
