"""An Atom feed (RFC 4287) of the public warnings in force, each entry pointing to its CAP message.

This is the index CAP aggregators poll (Google Public Alerts, WMO's Alert Hub, other countries' systems): they read
the entries and fetch each linked CAP message they have not seen. The feed holds no more than the messages; the
messages themselves are the ones the dispatcher stored when it built them (hub/warn/cap.py). Pure: no I/O.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from hub.alerts.alarm import Alarm, Transition
from hub.warn.cap import CONTENT_TYPE, CapArea, CapError, cap_time, headline, public_rule

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_CONTENT_TYPE = "application/atom+xml"
_ABSOLUTE = re.compile(r"^https?://[^\s<>\"]+$")


class FeedEntry(NamedTuple):
    """One public warning in the feed: its alarm, the identifier of its latest CAP message and where that is served.

    ``area``: the alarm's unit, for the entry's title (without it the title names the alarm's subject); ``sent``:
    the message's ``sent``, the entry's ``updated`` (the alarm's last change if not given).
    """

    alarm: Alarm
    identifier: str
    url: str
    area: CapArea | None = None
    sent: datetime | None = None


def atom_feed(
    entries: Sequence[FeedEntry],
    *,
    feed_id: str,
    title: str,
    self_url: str,
    author: str,
    now: datetime,
) -> bytes:
    """The feed as UTF-8 XML: newest change first, one entry per alarm (its latest message).

    ``feed_id``: a permanent IRI for the feed (its public address will do); ``author``: the IOC's name, which Atom
    requires of a feed; ``now``: the feed's ``updated`` when no entry is newer; pass the time of the latest CAP
    message stored (a Cancel included, whose alarm leaves the feed), not the clock, so that the feed's ``updated``
    moves only when the feed does.
    """
    if not _ABSOLUTE.match(self_url):
        raise CapError(f"self_url {self_url!r}: the feed's own address must be an absolute http(s) address")
    if not feed_id.strip() or not title.strip() or not author.strip():
        raise CapError("the feed needs an id, a title and an author (RFC 4287 4.1.1)")
    seen: set[str] = set()
    for e in entries:
        _check(e)
        if e.alarm.id in seen:
            raise CapError(f"alarm {e.alarm.id} is in the feed twice: list only its latest message")
        seen.add(e.alarm.id)
    ordered = sorted(entries, key=lambda e: (_updated(e), e.alarm.id), reverse=True)
    # Plain names under an xmlns on the root: ElementTree's default_namespace would refuse the unprefixed link
    # attributes (rel, href), which Atom wants in no namespace.
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(feed, "id", feed_id)
    _text(feed, "title", title)
    _text(feed, "updated", cap_time(max([now, *(_updated(e) for e in ordered)])))
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = author
    ET.SubElement(feed, "link", {"rel": "self", "type": FEED_CONTENT_TYPE, "href": self_url})
    for e in ordered:
        _entry(feed, e)
    ET.indent(feed, space="  ")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _check(e: FeedEntry) -> None:
    if not public_rule(e.alarm.rule):
        raise CapError(f"alarm {e.alarm.id}: {e.alarm.rule} alarms are not public warnings; keep them out of the feed")
    if not _ABSOLUTE.match(e.url):
        raise CapError(f"alarm {e.alarm.id}: the CAP message's address {e.url!r} must be absolute http(s)")
    if not e.identifier.startswith(f"{e.alarm.id}."):
        raise CapError(f"identifier {e.identifier!r} is not one of alarm {e.alarm.id}'s messages")


def _updated(e: FeedEntry) -> datetime:
    return e.sent or e.alarm.updated_at


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def _entry(feed: ET.Element, e: FeedEntry) -> None:
    a = e.alarm
    entry = ET.SubElement(feed, "entry")
    # One id per message, not per alarm: an aggregator that sees a new id fetches the new message.
    _text(entry, "id", e.url)
    transition = _transition(e.identifier)
    area = e.area or CapArea(code=a.area or "", name=a.subject, province_code=(a.area or "")[:2])
    _text(entry, "title", headline(a, transition, area, "vi"))
    _text(entry, "updated", cap_time(_updated(e)))
    _text(entry, "summary", a.message or headline(a, transition, area, "en"))
    ET.SubElement(entry, "link", {"rel": "alternate", "type": CONTENT_TYPE, "href": e.url})


def _transition(identifier: str) -> Transition:
    """The change an identifier (cap_identifier: '<alarm id>.<revision>.<transition>') names."""
    try:
        return Transition(identifier.rsplit(".", 1)[1])
    except (IndexError, ValueError):
        raise CapError(f"identifier {identifier!r} does not end in an alarm transition") from None
