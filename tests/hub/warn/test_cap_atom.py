"""The Atom feed of public warnings in force: well-formed RFC 4287 with what an aggregator reads (feed id, title,
updated, self link; per entry id, title, updated, summary and a link to the CAP message), newest first."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts.alarm import Alarm, AlarmState, Transition
from hub.alerts.rules.severity import Severity
from hub.feeds.units import load_units
from hub.warn.atom import FeedEntry, atom_feed
from hub.warn.cap import CapError, cap_area, cap_identifier

A = {"a": "http://www.w3.org/2005/Atom"}
T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)
BASE = "https://ioc.hue.gov.vn/cap"
HUE = cap_area(load_units(), "46")


def make(rule: str, n: int, updated: datetime, **kw: object) -> Alarm:
    return Alarm.model_validate(
        {
            "id": f"alarm{n}",
            "rule": rule,
            "subject": f"subject-{n}",
            "area": "46",
            "severity": Severity.MAJOR,
            "state": AlarmState.ACTIVE_UNACK,
            "level": 2,
            "message": f"Sông Hương tại Kim Long: 3.6{n} m, BĐ2",
            "started_at": T0,
            "updated_at": updated,
            **kw,
        }
    )


def entry(a: Alarm, transition: Transition = Transition.CREATED) -> FeedEntry:
    ident = cap_identifier(a, transition)
    return FeedEntry(a, ident, f"{BASE}/{ident}.xml", HUE)


def feed(entries: list[FeedEntry], now: datetime = T0) -> ET.Element:
    data = atom_feed(
        entries,
        feed_id="https://ioc.hue.gov.vn/cap/feed.atom",
        title="Cảnh báo thiên tai – Thành phố Huế",
        self_url="https://ioc.hue.gov.vn/cap/feed.atom",
        author="Trung tâm IOC thành phố Huế",
        now=now,
    )
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(data)  # raises on anything not well-formed


def one(parent: ET.Element, path: str) -> ET.Element:
    found = parent.findall(path, A)
    assert len(found) == 1, path
    return found[0]


def test_feed_has_the_elements_rfc_4287_requires_and_links_each_cap_message() -> None:
    flood = make("flood_level", 1, T0 + timedelta(minutes=5))
    rain = make("heavy_rain", 2, T0 + timedelta(minutes=20), message="Mưa lớn tại rain-aluoi: 230 mm/24 h, cấp 2")
    root = feed([entry(flood), entry(rain, Transition.ESCALATED)])
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    assert one(root, "a:id").text == "https://ioc.hue.gov.vn/cap/feed.atom"
    assert one(root, "a:title").text == "Cảnh báo thiên tai – Thành phố Huế"
    assert one(root, "a:updated").text == "2026-10-28T10:20:00+07:00"  # the newest entry
    assert one(root, "a:author/a:name").text == "Trung tâm IOC thành phố Huế"
    self_link = one(root, "a:link")
    assert self_link.attrib == {
        "rel": "self",
        "type": "application/atom+xml",
        "href": "https://ioc.hue.gov.vn/cap/feed.atom",
    }
    entries = root.findall("a:entry", A)
    assert [one(e, "a:id").text for e in entries] == [
        f"{BASE}/alarm2.0.escalated.xml",  # newest first
        f"{BASE}/alarm1.0.created.xml",
    ]
    first = entries[0]
    assert one(first, "a:title").text == "Nâng mức: Cảnh báo mưa lớn cấp độ 2 – Thành phố Huế"
    assert one(first, "a:updated").text == "2026-10-28T10:20:00+07:00"
    assert one(first, "a:summary").text == "Mưa lớn tại rain-aluoi: 230 mm/24 h, cấp 2"
    assert one(first, "a:link").attrib == {
        "rel": "alternate",
        "type": "application/cap+xml",
        "href": f"{BASE}/alarm2.0.escalated.xml",
    }


def test_an_empty_feed_is_still_a_valid_feed_updated_now() -> None:
    root = feed([], now=T0)
    assert root.findall("a:entry", A) == []
    assert one(root, "a:updated").text == "2026-10-28T10:00:00+07:00"


def test_the_message_sent_time_dates_the_entry_when_given() -> None:
    a = make("flood_level", 1, T0)
    ident = cap_identifier(a, Transition.CREATED)
    root = feed([FeedEntry(a, ident, f"{BASE}/{ident}.xml", HUE, sent=T0 + timedelta(seconds=7))])
    assert one(one(root, "a:entry"), "a:updated").text == "2026-10-28T10:00:07+07:00"


def test_without_an_area_the_title_names_the_subject() -> None:
    a = make("flood_level", 1, T0)
    ident = cap_identifier(a, Transition.CREATED)
    root = feed([FeedEntry(a, ident, f"{BASE}/{ident}.xml")])
    assert one(one(root, "a:entry"), "a:title").text == "Cảnh báo lũ BĐ2 – subject-1"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda e: e._replace(alarm=e.alarm.model_copy(update={"rule": "data_quality"})), "not public warnings"),
        (lambda e: e._replace(url="/cap/x.xml"), "must be absolute http"),
        (lambda e: e._replace(identifier="other.0.created"), "is not one of alarm alarm1's messages"),
        (lambda e: e._replace(identifier="alarm1.0.shouted"), "does not end in an alarm transition"),
    ],
)
def test_entries_that_would_mislead_an_aggregator_are_refused(bad: object, message: str) -> None:
    good = entry(make("flood_level", 1, T0))
    assert callable(bad)
    with pytest.raises(CapError, match=message):
        feed([bad(good)])


def test_an_alarm_listed_twice_is_refused() -> None:
    a = make("flood_level", 1, T0)
    with pytest.raises(CapError, match="in the feed twice"):
        feed([entry(a), entry(a.model_copy(update={"revision": 1}), Transition.UPDATED)])


def test_the_feed_needs_its_own_absolute_address() -> None:
    with pytest.raises(CapError, match="self_url"):
        atom_feed([], feed_id="x", title="t", self_url="feed.atom", author="a", now=T0)
