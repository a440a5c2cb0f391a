"""QĐ 766/QĐ-TTg (2022) one-stop public-service figures, as plain functions over the dossier counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DossierCounts:
    received: int
    carried_over: int
    resolved_early: int
    resolved_on_time: int
    resolved_late: int
    in_progress_on_time: int
    in_progress_late: int
    received_online: int | None = None


def to_process(c: DossierCounts) -> int:
    """Dossiers to process in the period = received in the period + carried over from the previous one."""
    return c.received + c.carried_over


def late_rate_pct(c: DossierCounts) -> float:
    """(late in progress + resolved late) / to process x 100; 0 when there was nothing to process."""
    total = to_process(c)
    return 100.0 * (c.in_progress_late + c.resolved_late) / total if total else 0.0


def on_time_rate_pct(c: DossierCounts) -> float:
    """100% - late rate (QĐ 766 counts early and on-time resolution, and on-time work in progress, as on time)."""
    return 100.0 - late_rate_pct(c)


def online_rate_pct(c: DossierCounts) -> float | None:
    """Share of the period's received dossiers that came in online; None when the feed does not say."""
    if c.received_online is None:
        return None
    return 100.0 * c.received_online / c.received if c.received else 0.0
