"""Evaluators: one per hazard, each turning observations into findings with the pure rules of hub.alerts.rules."""
