"""Benchmarks run against real Mosquitto and InfluxDB child processes; each ends by printing one JSON line."""
