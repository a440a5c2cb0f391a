"""One module per dashboard; each has ``UID``, ``TITLE`` and ``build() -> Dashboard`` (a builder), registered in
``DASHBOARDS`` (registry.py) under its uid when the module is imported."""

from __future__ import annotations

import sys
from types import ModuleType

from hub.grafana.dashboards.registry import DASHBOARDS

# Imported in the bundle's order (export and push follow it), so that they register in that order.
# isort: off
from hub.grafana.dashboards import province_overview, hydrology, dam_safety, forest_fire, edge_fleet  # noqa: F401
from hub.grafana.dashboards import admin_units  # noqa: F401
# isort: on

# The module of each registered dashboard, in registration order.
MODULES: tuple[ModuleType, ...] = tuple(sys.modules[DASHBOARDS.plugin(uid).__module__] for uid in DASHBOARDS.in_order())
