"""Simulators that stand in for field hardware: sensor nodes (``simulators.sensors``) and their scenario files."""
