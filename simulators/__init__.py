"""Simulators that stand in for field hardware: sensor nodes (``simulators.sensors``) with their scenario files, and
camera scenes with ground truth (``simulators.camera``)."""
