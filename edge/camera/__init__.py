"""The camera pipeline on the node: capture, motion gating, detection, confirmation, events."""
