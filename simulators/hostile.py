"""Hostile-node traffic: every class of bad message a careless or malicious node sends, interleaved with the good
traffic of other nodes, seeded so that a run can be replayed exactly.

``plan(seed, ...)`` returns the messages to publish, in order, each labelled with what the hub must do with it:
store its good readings, dead-letter it (once, with a reason), or drop it as a duplicate. The test
(tests/integration/test_hostile_input.py) and the benchmark (bench/hostile.py) publish the plan into a real hub and
compare what the hub stored, dead-lettered and alarmed on with what the plan says. Every good node and the hostile
node have a flood station, so a bad message that moved an alarm would show.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from wire import TelemetryMessage

HOSTILE = "evil-1"
PREFIX = "iocgw"
# Each node's flood station (BĐ1-3 in metres): a hydrograph through BĐ1 and BĐ2 and back raises and clears alarms.
BD = (5.0, 6.0, 7.0)
# A river's stage every 15 minutes, rising 1 m/h at most and never more than 0.25 m a step: data the hub's quality
# control (docs/quality.md) takes as good, so the hostile traffic is what differs, not the river.
HYDROGRAPH = [4.7, 4.95, 5.2, 5.45, 5.7, 5.95, 6.2, 6.4, 6.2, 5.95, 5.7, 5.45, 5.2, 4.95]
STEP = timedelta(minutes=15)
_REQUIRED: list[str] = TelemetryMessage.model_json_schema()["required"]  # what fuzz removes or breaks


@dataclass(frozen=True)
class Planned:
    topic: str
    payload: bytes
    kind: str  # "good", "bad" (one dead letter), "duplicate" (counted, dropped)
    cls: str  # the class of input, for the report
    good_readings: list[tuple[str, str, float, str]] = field(default_factory=list)  # (node, sensor, value, ts)


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _reading(value: Any, ts: str, sensor: str = "stage", **over: Any) -> dict[str, Any]:
    return {"sensor_id": sensor, "quantity": "water_level", "value": value, "unit": "m", "ts": ts, **over}


class _Node:
    def __init__(self, node_id: str, start: datetime, now: datetime) -> None:
        self.node_id = node_id
        self.seq = 0
        self.t = start
        self.now = now
        self.level_i = 0

    def topic(self, channel: str = "telemetry") -> str:
        return f"{PREFIX}/v1/{self.node_id}/{channel}"

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def body(self, readings: list[dict[str, Any]], seq: object = None, **over: Any) -> dict[str, Any]:
        """``seq`` is whatever the hostile plan wants to send (a string, a float); None: the next number."""
        return {
            "v": 1,
            "node_id": self.node_id,
            "seq": self.next_seq() if seq is None else seq,
            "ts": _iso(self.now),
            "readings": readings,
            **over,
        }

    def status(self, extra: dict[str, float]) -> dict[str, Any]:
        return {
            "v": 1,
            "node_id": self.node_id,
            "seq": self.next_seq(),
            "ts": _iso(self.now),
            "state": "online",
            "extra": extra,
        }

    def good(self) -> Planned:
        """The next point of the node's hydrograph, ``STEP`` after the previous one."""
        value = HYDROGRAPH[self.level_i % len(HYDROGRAPH)]
        self.level_i += 1
        self.t += STEP
        ts = _iso(self.t)
        payload = json.dumps(self.body([_reading(value, ts)])).encode()
        return Planned(self.topic(), payload, "good", "good", [(self.node_id, "stage", value, ts)])


def stations(nodes: list[str]) -> list[dict[str, Any]]:
    """The flood table rows: one station per node, on its `stage` sensor."""
    return [
        {
            "station_id": f"st-{n}",
            "node_id": n,
            "sensor_id": "stage",
            "river": "Thử",
            "name": f"Trạm {n}",
            "province": "Hà Nội",
            "bd1_m": BD[0],
            "bd2_m": BD[1],
            "bd3_m": BD[2],
            "source": "simulators/hostile.py (synthetic)",
        }
        for n in nodes
    ]


def _fuzz(rng: random.Random, good: dict[str, Any]) -> dict[str, Any] | list[Any] | str | int | None:
    """A JSON value the telemetry schema refuses: a valid message with one thing broken, chosen from the schema."""
    required = _REQUIRED
    body = json.loads(json.dumps(good))
    choice = rng.randrange(6)
    if choice == 0:
        body.pop(rng.choice(required))
    elif choice == 1:
        body[f"x_{rng.randrange(1000)}"] = rng.choice([1, "a", None, [], {}])  # additionalProperties: false
    elif choice == 2:
        body[rng.choice(required)] = rng.choice([[], {}, None, True, "", -1, 1.5, "x" * 70])
    elif choice == 3:
        body["readings"][0][rng.choice(["sensor_id", "quantity", "value", "unit"])] = rng.choice([None, [], {}, True])
    elif choice == 4:
        body["readings"] = [] if rng.random() < 0.5 else "readings"
    else:
        return rng.choice([[body], "telemetry", 42, None])
    return body


def plan(
    seed: int, good_nodes: int = 3, rounds: int = 10, now: datetime | None = None
) -> tuple[list[Planned], list[str]]:
    """The messages to publish in order, and the node ids with a flood station (the good ones and the hostile one).

    Each round: one good reading from every good node, one from the hostile node, and one bad message of each
    class in a seeded order. Device times start 30 days before ``now`` (inside the hub's accepted window).
    """
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    start = (now - timedelta(days=30)).replace(microsecond=0)
    goods = [_Node(f"good-{i + 1}", start, now) for i in range(good_nodes)]
    evil = _Node(HOSTILE, start, now)
    out: list[Planned] = []

    def bad(cls: str, topic: str, payload: bytes | dict[str, Any] | Any, good: list | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        out.append(Planned(topic, data, "bad", cls, good or []))

    def later(minutes: float = 0.5) -> str:
        return _iso(evil.t + timedelta(minutes=minutes))

    classes: list[Callable[[], None]] = [
        # A reading from the future: before the data-time policy it cleared the station's alarm and froze it.
        lambda: bad("future reading", evil.topic(), evil.body([_reading(0.1, "2199-12-31T00:00:00Z")])),
        lambda: bad("unset clock", evil.topic(), evil.body([_reading(0.1, "1970-01-01T00:00:00Z")])),
        lambda: bad(
            "clock ahead", evil.topic(), evil.body([_reading(0.1, later())], ts=_iso(now + timedelta(hours=7)))
        ),
        lambda: bad("string value", evil.topic(), evil.body([_reading("9.87", later())])),
        lambda: bad("bool value", evil.topic(), evil.body([_reading(True, later())])),
        lambda: bad("string seq", evil.topic(), evil.body([_reading(0.1, later())], seq=str(evil.next_seq()))),
        lambda: bad("float seq", evil.topic(), evil.body([_reading(0.1, later())], seq=float(evil.next_seq()))),
        lambda: bad("NaN", evil.topic(), _nan(evil, later())),
        lambda: bad(
            "duplicate key",
            evil.topic(),
            json.dumps(evil.body([_reading(0.1, later())]))[:-1].encode() + b', "node_id": "good-1"}',
        ),
        lambda: bad(
            "node id not the topic's", evil.topic(), {**evil.body([_reading(0.1, later())]), "node_id": "good-1"}
        ),
        lambda: bad("oversize", evil.topic(), b'{"v": 1, "pad": "' + b"x" * 300_000 + b'"}'),
        lambda: bad("not JSON", evil.topic(), rng.randbytes(rng.randint(1, 200))),
        lambda: bad("schema fuzz", evil.topic(), _fuzz(rng, evil.body([_reading(1.0, later())], seq=1))),
        lambda: bad("status key ending in a backslash", evil.topic("status"), evil.status({"x\\": 1.0})),
        lambda: bad("3000 status figures", evil.topic("status"), evil.status({f"k{i}": 1.0 for i in range(3000)})),
        # Another value for a time already stored (the hostile node's last good reading): refused, the first kept.
        lambda: bad("second value for a stored time", evil.topic(), evil.body([_reading(0.1, _iso(evil.t))])),
        # One bad reading beside a good one: the good one is stored, one dead letter names the bad one.
        lambda: _mixed(evil, out, later),
    ]
    for _ in range(rounds):
        for g in goods:
            out.append(g.good())
        out.append(evil.good())
        order = list(range(len(classes)))
        rng.shuffle(order)
        for i in order:
            classes[i]()
        # A replay of the hostile node's last good message: the same seq, dropped as a duplicate.
        last = next(p for p in reversed(out) if p.topic == evil.topic() and p.kind == "good")
        out.append(Planned(last.topic, last.payload, "duplicate", "replay"))
    return out, [g.node_id for g in goods] + [HOSTILE]


def _nan(node: _Node, ts: str) -> bytes:
    text = json.dumps(node.body([_reading(0.0, ts)]))
    return text.replace('"value": 0.0', '"value": NaN').encode()


def _mixed(node: _Node, out: list[Planned], later: Callable[..., str]) -> None:
    """A message with a good reading of another sensor and a reading from the future."""
    ts = later(0.25)
    payload = node.body(
        [
            {"sensor_id": "temp", "quantity": "temperature", "value": 21.5, "unit": "degC", "ts": ts},
            _reading(0.1, "2199-01-01T00:00:00Z"),
        ]
    )
    out.append(Planned(node.topic(), json.dumps(payload).encode(), "bad", "mixed", [(node.node_id, "temp", 21.5, ts)]))
