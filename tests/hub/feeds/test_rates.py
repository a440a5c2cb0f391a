"""QĐ 766 rates, period arithmetic and the anomaly rules, against hand-computed examples."""

from __future__ import annotations

from datetime import date

import pytest

from hub.feeds import rates
from hub.feeds.anomaly import AnomalyRules, Direction, PlanKind, anomaly_reason, change_pct, jump_reason
from hub.feeds.periods import period_start, previous_start


def test_qd766_rates_by_hand() -> None:
    # 120 received + 30 carried over = 150 to process; late = 6 resolved late + 9 still in progress late = 15;
    # late rate 15/150 = 10 %, on-time rate 90 %; 96 of 120 received online = 80 %.
    c = rates.DossierCounts(120, 30, 20, 80, 6, 35, 9, received_online=96)
    assert rates.to_process(c) == 150
    assert rates.late_rate_pct(c) == pytest.approx(10.0)
    assert rates.on_time_rate_pct(c) == pytest.approx(90.0)
    assert rates.online_rate_pct(c) == pytest.approx(80.0)


def test_nothing_to_process_is_not_a_division_by_zero() -> None:
    c = rates.DossierCounts(0, 0, 0, 0, 0, 0, 0)
    assert (rates.late_rate_pct(c), rates.on_time_rate_pct(c), rates.online_rate_pct(c)) == (0.0, 100.0, None)


@pytest.mark.parametrize(
    ("ptype", "period", "start", "prev"),
    [
        ("M", "2025-01", date(2025, 1, 1), date(2024, 12, 1)),
        ("Q", "2025-Q3", date(2025, 7, 1), date(2025, 4, 1)),
        ("H", "2025-H1", date(2025, 1, 1), date(2024, 7, 1)),
        ("Y", "2025", date(2025, 1, 1), date(2024, 1, 1)),
    ],
)
def test_periods(ptype: str, period: str, start: date, prev: date) -> None:
    assert period_start(ptype, period) == start
    assert previous_start(ptype, start) == prev


@pytest.mark.parametrize(("ptype", "period"), [("M", "2025-13"), ("Q", "2025-Q5"), ("M", "2025"), ("Y", "25")])
def test_bad_periods_say_how_to_write_them(ptype: str, period: str) -> None:
    with pytest.raises(ValueError, match="period"):
        period_start(ptype, period)


def test_revenue_below_plan_beyond_tolerance_is_flagged() -> None:
    rules = AnomalyRules(below_plan_pct=10)
    reason = anomaly_reason(85, 100, PlanKind.TARGET, Direction.HIGHER_BETTER, [], rules)
    assert reason is not None and "15.0% below plan 100" in reason
    assert anomaly_reason(91, 100, PlanKind.TARGET, Direction.HIGHER_BETTER, [], rules) is None


def test_spending_above_budget_is_flagged() -> None:
    rules = AnomalyRules(above_budget_pct=0)
    reason = anomaly_reason(105, 100, PlanKind.BUDGET, Direction.LOWER_BETTER, [], rules)
    assert reason is not None and "5.0% above the budget 100" in reason
    assert anomaly_reason(100, 100, PlanKind.BUDGET, Direction.LOWER_BETTER, [], rules) is None


def test_jump_beyond_k_mad_is_flagged_and_small_moves_are_not() -> None:
    history = [100, 102, 98, 101, 99, 100, 103, 97]  # median 100, MAD 1.5, scaled 2.22
    rules = AnomalyRules(mad_k=3.5, mad_min_history=6)
    assert jump_reason(104, history, rules) is None  # 1.8 scaled MADs
    reason = jump_reason(130, history, rules)
    assert reason is not None and "scaled MADs from the median 100" in reason
    assert jump_reason(130, history[:5], rules) is None  # too little history to judge


def test_change_pct() -> None:
    assert change_pct(110, 100) == pytest.approx(10.0)
    assert change_pct(90, -100) == pytest.approx(190.0)
    assert change_pct(5, 0) is None and change_pct(5, None) is None
