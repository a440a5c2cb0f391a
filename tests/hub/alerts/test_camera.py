import pytest
from pydantic import ValidationError

from hub.alerts.rules.camera import CameraSeverityTable, camera_alert_severity
from hub.alerts.rules.severity import Severity


@pytest.mark.parametrize(
    ("level", "severity"),
    [(1, Severity.WARNING), (2, Severity.MINOR), (3, Severity.MAJOR), (4, Severity.CRITICAL), (5, Severity.CRITICAL)],
)
def test_confirmed_fire_rises_with_fire_danger(level, severity):
    assert camera_alert_severity("fire", 0.9, level) is severity


def test_labels_scores_and_unknown_danger():
    assert camera_alert_severity("Smoke ", 0.7, 2) is Severity.MINOR  # case and spaces do not matter; 0.7 reaches
    assert camera_alert_severity("smoke", 0.69, 5) is None
    assert camera_alert_severity("person", 0.99, 5) is None
    assert camera_alert_severity("fire", 0.9, None) is Severity.MAJOR  # no index: treated as level III
    with pytest.raises(ValueError, match="1-5"):
        camera_alert_severity("fire", 0.9, 6)


def test_table_is_configurable_and_checked():
    table = CameraSeverityTable(labels={"Flame"}, min_score=0.5, by_fire_danger=["info"] * 4 + ["critical"])
    assert camera_alert_severity("flame", 0.6, 5, table) is Severity.CRITICAL
    assert camera_alert_severity("fire", 0.9, 5, table) is None
    with pytest.raises(ValidationError, match="must not fall"):
        CameraSeverityTable(by_fire_danger=["major", "minor", "major", "critical", "critical"])
