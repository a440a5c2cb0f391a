"""bench.multihub's comparison of a run against the one-hub reference of the same scenario.

Alarm transitions are compared as multisets keyed by (rule, subject, transition, level): alarm ids are random per
hub and say nothing across runs. The same comparison with the transition's data time added ("timed") tells a
transition at the right level but on another reading (disaster_risk, timed by the wall clock of its evaluation, is
compared without it). Notifications are the webhook deliveries (distinct notification ids) keyed the same way; a
duplicate is a second notification of one transition at one time (two hubs, or a restarted hub, raising the same
change). Quality-control flags are compared reading by reading. The Nesterov index is compared point by point (the
``fire_danger`` series the hubs write at each temperature, humidity or rain reading) and per local day (the day's
last point: the P the day ends with).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

Key = tuple[str, str, str, int | None]
LOCAL = timedelta(hours=7)
EXAMPLES = 6


def key(t: dict[str, Any]) -> Key:
    return (t["rule"], t["subject"], t["transition"], t["level"])


# Rules whose alarms carry the evaluation's wall-clock time, not a reading's: an area's disaster risk is judged once
# per evaluated batch (hub.alerts.engine.AlertEngine._risk), so its time says nothing across runs.
WALL_TIMED = frozenset({"disaster_risk"})


def timed(t: dict[str, Any]) -> tuple[str, str, str, int | None, str]:
    return (*key(t), "" if t["rule"] in WALL_TIMED else t["at"])


def _diff(ref: list[dict[str, Any]], run: list[dict[str, Any]], by: Any) -> tuple[Counter[Any], Counter[Any]]:
    a, b = Counter(map(by, ref)), Counter(map(by, run))
    return a - b, b - a


def _examples(c: Counter[Any]) -> list[str]:
    return [
        " ".join("-" if x is None else str(x) for x in k) + (f" x{n}" if n > 1 else "")
        for k, n in c.most_common(EXAMPLES)
    ]


def compare(ref: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    missing, extra = _diff(ref["transitions"], run["transitions"], key)
    missing_t, extra_t = _diff(ref["transitions"], run["transitions"], timed)
    n_missing, n_extra = _diff(ref["deliveries"], run["deliveries"], key)
    same_change = Counter((*key(d), d["at"]) for d in run["deliveries"])
    per_event = Counter((d["alarm_id"], d["revision"], d["transition"]) for d in run["deliveries"])
    delivered = Counter(per_event.get((t["alarm_id"], t["revision"], t["transition"]), 0) for t in run["transitions"])
    nesterov = compare_nesterov(ref["nesterov"], run["nesterov"])
    by_rule: dict[str, dict[str, int]] = {}
    for name, c in (("missing", missing), ("extra", extra)):
        for k, n in c.items():
            by_rule.setdefault(k[0], {"missing": 0, "extra": 0})[name] += n
    return {
        "transitions": len(run["transitions"]),
        "transitions_missing": sum(missing.values()),
        "transitions_extra": sum(extra.values()),
        "transitions_missing_timed": sum(missing_t.values()),
        "transitions_extra_timed": sum(extra_t.values()),
        "transitions_by_rule": dict(sorted(by_rule.items())),
        "examples_missing": _examples(missing),
        "examples_extra": _examples(extra),
        "notifications": len(run["deliveries"]),
        "notifications_missing": sum(n_missing.values()),
        "notifications_extra": sum(n_extra.values()),
        "duplicate_notifications": sum(n - 1 for n in same_change.values() if n > 1),
        "alarm_events_by_deliveries": {str(k): v for k, v in sorted(delivered.items())},
        "subjects_with_two_hubs_alarming": _subjects_on_several_hubs(run["transitions"]),
        "readings_lost": run["readings_lost"],
        **compare_qc(ref["qc"], run["qc"]),
        **nesterov,
    }


def _subjects_on_several_hubs(transitions: list[dict[str, Any]]) -> int:
    """(rule, subject) pairs for which more than one hub created an alarm."""
    hubs: dict[tuple[str, str], set[int]] = {}
    for t in transitions:
        if t["transition"] == "created":
            hubs.setdefault((t["rule"], t["subject"]), set()).add(t["hub"])
    return sum(1 for h in hubs.values() if len(h) > 1)


def compare_qc(ref: dict[str, str], run: dict[str, str]) -> dict[str, int]:
    """The hubs' quality-control flags (stateful per sensor: rate of change, spikes, flat lines) against the
    reference's, reading by reading."""
    return {
        "qc_flagged_reference": len(ref),
        "qc_flagged": len(run),
        "qc_flags_missing": len(ref.keys() - run.keys()),
        "qc_flags_extra": len(run.keys() - ref.keys()),
        "qc_flags_other_check": sum(1 for k in ref.keys() & run.keys() if ref[k] != run[k]),
    }


def _local_day(ms: str) -> str:
    return (datetime.fromtimestamp(int(ms) / 1000, UTC) + LOCAL).date().isoformat()


def _daily(points: dict[str, float]) -> dict[str, float]:
    out: dict[str, tuple[int, float]] = {}
    for ms, p in points.items():
        day = _local_day(ms)
        if day not in out or int(ms) > out[day][0]:
            out[day] = (int(ms), p)
    return {d: p for d, (_, p) in out.items()}


def compare_nesterov(ref: dict[str, float], run: dict[str, float]) -> dict[str, Any]:
    if not ref and not run:
        return {"nesterov_points": 0}
    both = ref.keys() & run.keys()
    differ = [abs(ref[k] - run[k]) for k in both if abs(ref[k] - run[k]) > 1e-6]
    dr, dn = _daily(ref), _daily(run)
    days_differ = [abs(dr[d] - dn[d]) for d in dr.keys() & dn.keys() if abs(dr[d] - dn[d]) > 1e-6]
    return {
        "nesterov_points": len(run),
        "nesterov_points_reference": len(ref),
        "nesterov_points_differ": len(differ),
        "nesterov_points_missing": len(ref.keys() - run.keys()),
        "nesterov_points_extra": len(run.keys() - ref.keys()),
        "nesterov_max_abs_diff": round(max(differ), 1) if differ else 0.0,
        "nesterov_days": len(dr),
        "nesterov_days_differ": len(days_differ) + len(dr.keys() ^ dn.keys()),
        "nesterov_day_max_abs_diff": round(max(days_differ), 1) if days_differ else 0.0,
        "nesterov_last_p_reference": round(dr[max(dr)], 1) if dr else None,
        "nesterov_last_p": round(dn[max(dn)], 1) if dn else None,
    }
