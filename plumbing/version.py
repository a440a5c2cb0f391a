"""The software version every process reports (node status, CLI); one place so edge and hub agree."""

__version__ = "0.1.0"
