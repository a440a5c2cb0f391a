"""One module per dashboard; each has ``UID``, ``TITLE`` and ``build() -> Dashboard`` (a builder)."""

from __future__ import annotations

from types import ModuleType

from hub.grafana.dashboards import admin_units, dam_safety, edge_fleet, forest_fire, hydrology, province_overview

MODULES: tuple[ModuleType, ...] = (province_overview, hydrology, dam_safety, forest_fire, edge_fleet, admin_units)
