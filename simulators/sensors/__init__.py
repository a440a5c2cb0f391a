"""Simulated sensor nodes: signal models, faults, scenario files and the runner behind ``iocgw sim sensors``.

Nothing is imported here on purpose: ``simulators.sensors.driver`` imports ``models`` and ``faults`` while ``edge``
is still importing, and ``scenario`` imports ``wire.nodeconfig``; eager imports here would make that a cycle.
"""
