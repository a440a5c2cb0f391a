"""Anomaly flags for indicator values: below plan, above budget, or a jump beyond k MAD of the recent history."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# The MAD of a normal distribution is 0.6745 sigma; scaling by 1/0.6745 makes "k MAD" read like "k sigma".
MAD_SCALE = 1.4826


class Direction(StrEnum):
    HIGHER_BETTER = "higher_better"
    LOWER_BETTER = "lower_better"
    NEUTRAL = "neutral"


class PlanKind(StrEnum):
    TARGET = "target"  # a plan to reach (revenue, disbursement): warn when the value falls short
    BUDGET = "budget"  # a ceiling (spending): warn when the value goes over


class AnomalyRules(BaseModel):
    """Thresholds (configuration, not code: provinces set their own tolerances)."""

    model_config = ConfigDict(extra="forbid")

    below_plan_pct: float = Field(10.0, ge=0, description="flag a target indicator more than this % below plan")
    above_budget_pct: float = Field(0.0, ge=0, description="flag a budget indicator more than this % above budget")
    mad_k: float = Field(3.5, gt=0, description="flag a value further than k scaled MADs from the recent median")
    mad_window: int = Field(12, ge=3, description="how many previous periods make the recent history")
    mad_min_history: int = Field(6, ge=3, description="fewer previous periods than this: no jump check")


def plan_reason(
    value: float, plan: float | None, kind: PlanKind, direction: Direction, rules: AnomalyRules
) -> str | None:
    if plan is None or plan <= 0:
        return None
    gap_pct = 100.0 * (value - plan) / plan
    if kind is PlanKind.BUDGET:
        if gap_pct > rules.above_budget_pct:
            return f"{value:g} is {gap_pct:.1f}% above the budget {plan:g} (tolerance {rules.above_budget_pct:g}%)"
        return None
    if direction is Direction.LOWER_BETTER:
        if gap_pct > rules.below_plan_pct:
            return f"{value:g} is {gap_pct:.1f}% above the target {plan:g} (tolerance {rules.below_plan_pct:g}%)"
        return None
    if -gap_pct > rules.below_plan_pct:
        return f"{value:g} is {-gap_pct:.1f}% below plan {plan:g} (tolerance {rules.below_plan_pct:g}%)"
    return None


def jump_reason(value: float, history: Sequence[float], rules: AnomalyRules) -> str | None:
    """Robust outlier test on the previous ``mad_window`` values (oldest first)."""
    recent = list(history)[-rules.mad_window :]
    if len(recent) < rules.mad_min_history:
        return None
    median = statistics.median(recent)
    mad = statistics.median(abs(x - median) for x in recent)
    if mad == 0:  # a flat history has no scale to measure a jump against
        return None
    score = abs(value - median) / (MAD_SCALE * mad)
    if score > rules.mad_k:
        return f"{value:g} is {score:.1f} scaled MADs from the median {median:g} of the last {len(recent)} periods"
    return None


def anomaly_reason(
    value: float,
    plan: float | None,
    kind: PlanKind,
    direction: Direction,
    history: Sequence[float],
    rules: AnomalyRules,
) -> str | None:
    reasons = [r for r in (plan_reason(value, plan, kind, direction, rules), jump_reason(value, history, rules)) if r]
    return "; ".join(reasons) or None


def change_pct(value: float, previous: float | None) -> float | None:
    """Period-over-period change in %; None without a previous value or when it was 0."""
    if previous is None or previous == 0:
        return None
    return 100.0 * (value - previous) / abs(previous)
