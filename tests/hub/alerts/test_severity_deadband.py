"""A noisy value near a threshold keeps its alarm within the deadband instead of flapping."""

from hypothesis import given
from hypothesis import strategies as st

from hub.alerts.rules.severity import Severity, SeverityThresholds, severity_for, severity_with_deadband

T = SeverityThresholds(warning=10.0, major=20.0, deadband=1.0)


def test_held_within_deadband_and_left_below_it():
    assert severity_with_deadband(10.5, T, None) is Severity.WARNING
    assert severity_with_deadband(9.2, T, Severity.WARNING) is Severity.WARNING  # within 1.0 below 10
    assert severity_with_deadband(8.9, T, Severity.WARNING) is None
    assert severity_with_deadband(19.5, T, Severity.MAJOR) is Severity.MAJOR
    assert severity_with_deadband(18.5, T, Severity.MAJOR) is Severity.WARNING
    assert severity_with_deadband(25.0, T, Severity.WARNING) is Severity.MAJOR  # rising is immediate


@given(st.lists(st.floats(9.1, 10.9), min_size=2, max_size=50))
def test_no_flapping_inside_the_band(values):
    previous = severity_for(10.0, T)
    for v in values:
        previous = severity_with_deadband(v, T, previous)
        assert previous is Severity.WARNING


def test_zero_deadband_is_plain_severity():
    plain = SeverityThresholds(warning=10.0)
    assert severity_with_deadband(9.99, plain, Severity.WARNING) is None
