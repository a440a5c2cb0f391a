"""The operator API and page. Import ``make_app`` from ``hub.api.app``; this package root stays light so that
``hub.config`` can import the settings model without pulling in the whole hub."""

from hub.api.auth import ApiSettings, ApiToken, Role, hash_token

__all__ = ["ApiSettings", "ApiToken", "Role", "hash_token"]
