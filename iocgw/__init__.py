"""iocgw: edge-IoT and camera gateway with a central hub for provincial Intelligent Operations Centres."""

__version__ = "0.1.0"
