"""Administrative data feeds: importers (indicators, public services, citizen feedback), the admin-unit reference
with the 2025 mapping, derived figures, and the merged ``unit_hazard`` view (docs/feeds.md)."""
