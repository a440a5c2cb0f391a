"""iocgw: edge-IoT and camera gateway with a central hub for provincial Intelligent Operations Centres."""

from plumbing.version import __version__

__all__ = ["__version__"]
