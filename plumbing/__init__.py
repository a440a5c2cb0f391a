"""Plumbing every layer may use: config files, the plugin registry, SQLite, systemd, log redaction.

It imports nothing of iocgw's own packages; wire, edge, hub, simulators and the CLI all sit above it.
"""
