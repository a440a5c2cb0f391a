import pytest
from pydantic import ValidationError

from hub.alerts.rules.severity import Severity, SeverityThresholds, severity_for


def test_severities_order_by_urgency_not_alphabet():
    assert Severity.INFO < Severity.WARNING < Severity.MINOR < Severity.MAJOR < Severity.CRITICAL
    assert max(Severity.MAJOR, Severity.CRITICAL, Severity.INFO) is Severity.CRITICAL
    assert sorted([Severity.MINOR, Severity.INFO, Severity.MAJOR]) == [Severity.INFO, Severity.MINOR, Severity.MAJOR]
    assert Severity.CRITICAL.rank == 4 and Severity("major") is Severity.MAJOR
    assert Severity.WARNING >= Severity.WARNING and Severity.WARNING <= Severity.WARNING


def test_thresholds():
    t = SeverityThresholds(minor=1.0, critical=3.0)
    assert severity_for(0.99, t) is None
    assert severity_for(1.0, t) is Severity.MINOR
    assert severity_for(2.9, t) is Severity.MINOR
    assert severity_for(3.0, t) is Severity.CRITICAL
    with pytest.raises(ValueError, match="NaN"):
        severity_for(float("nan"), t)


@pytest.mark.parametrize(
    ("fields", "message"),
    [({}, "at least one"), ({"warning": 2, "major": 2}, "major (2.0) must be above warning (2.0)")],
)
def test_threshold_validation(fields, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SeverityThresholds(**fields)
