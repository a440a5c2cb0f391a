"""Template placeholders left in a node config: the values firmware_configs/templates marks ``# CHANGE``.

A copied template validates against the schema as it stands, so without this check a node file that still names
the template's broker (``hub.ioc.example``) or logger (``192.0.2.10``) passes ``iocgw edge validate`` and the node
goes up the pole talking to nobody. Placeholders are recognised two ways:

- names and addresses reserved for documentation, which no deployment can use (RFC 2606 and 6761 names, RFC 5737
  and 3849 addresses): every network endpoint in the templates is one of these;
- the templates' own identities (node ids, site names), which a copy must replace; tests/test_firmware_configs.py
  keeps these lists in step with the templates.

Admin codes, coordinates and alarm thresholds marked CHANGE are real-looking values a real node may share, so they
are not flagged.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from plumbing.configfile import Document, Loc

CHANGE_MARK = re.compile(r"#\s*CHANGE\b")
DOCUMENTATION_DOMAINS = ("example", "invalid", "example.com", "example.net", "example.org")
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
TEMPLATE_NODE_IDS = frozenset(
    {"env-station-01", "forest-tower-01", "rain-gauge-01", "reservoir-01", "river-station-01", "urban-cam-01"}
)
TEMPLATE_SITE_NAMES = frozenset(
    {
        "Trạm quan trắc môi trường (mẫu)",
        "Chòi canh lửa rừng (mẫu)",
        "Điểm đo mưa (mẫu)",
        "Hồ chứa (mẫu)",
        "Trạm thủy văn (mẫu)",
        "Camera đô thị (mẫu)",
    }
)
# Fields that hold the node's identity: a template's value there is the template's, never this node's.
_IDENTITY_FIELDS: dict[Loc, frozenset[str]] = {
    ("node_id",): TEMPLATE_NODE_IDS,
    ("mqtt", "username"): TEMPLATE_NODE_IDS,
    ("site", "name"): TEMPLATE_SITE_NAMES,
}


def _leaves(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*loc, i))
    else:
        yield loc, value


def _host(text: str) -> str | None:
    """The host a string names: a URL's host, or the string itself if it could be a host name or address."""
    if "://" in text:
        try:
            return urlsplit(text).hostname
        except ValueError:
            return None
    return text.strip("[]").lower() if re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", text) else None


def documentation_reason(text: str) -> str | None:
    """Why ``text`` is a documentation-only name or address (RFC 2606/6761/5737/3849), or None."""
    host = _host(text)
    if not host:
        return None
    subject = "" if host == text.lower() else f"{host}: "
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.rstrip(".")
        # A bare "example" may be a label or a zone name; a host name under the reserved domains cannot be real.
        if any(name.endswith("." + d) or ("." in d and name == d) for d in DOCUMENTATION_DOMAINS):
            return f"{subject}a name reserved for documentation"
        return None
    if any(address in net for net in DOCUMENTATION_NETWORKS):
        return f"{subject}an address reserved for documentation"
    return None


def find_placeholders(doc: Document) -> list[tuple[Loc, str]]:
    """Every template placeholder left in ``doc``: (location, why it is one)."""
    found = []
    for loc, value in _leaves(doc.data):
        if not isinstance(value, str):
            continue
        if value in _IDENTITY_FIELDS.get(loc, ()):
            found.append((loc, f"{value!r} is a template placeholder"))
        elif (why := documentation_reason(value)) is not None:
            found.append((loc, f"{value!r} is a template placeholder ({why})"))
    return found


def _marked(doc: Document, loc: Loc) -> bool:
    line = doc.line_of(loc)
    return line is not None and bool(CHANGE_MARK.search(doc.text_lines[line - 1]))


def check_node_file(doc: Document) -> list[tuple[Loc, str]]:
    """A node's own file: no placeholder may be left."""
    return [
        (loc, f"{why}: replace it with this node's own (templates and examples: validate --template)")
        for loc, why in find_placeholders(doc)
    ]


def check_template(doc: Document) -> list[tuple[Loc, str]]:
    """A template or example: placeholders are its point, but each must sit on a line marked ``# CHANGE``, so
    whoever copies it knows to replace it, and there must be such a line."""
    problems = [
        (loc, f"{why}, but its line is not marked '# CHANGE'")
        for loc, why in find_placeholders(doc)
        if not _marked(doc, loc)
    ]
    if not any(CHANGE_MARK.search(line) for line in doc.text_lines):
        problems.append(((), "a template marks the lines to change with '# CHANGE'; this file has none"))
    return problems
