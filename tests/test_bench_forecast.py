"""bench/forecast on a tiny run: it replays, scores and prints one JSON line with every figure and target."""

from __future__ import annotations

import argparse
import json

import pytest

from bench import forecast


def test_tiny_run_reports_every_horizon_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(seeds=1, no_real=False, quick=True)
    forecast.main(args)
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["bench"] == "forecast" and "error" not in out
    for source in ("simulator", "real"):
        s = out[source]
        assert set(s["horizons"]) == {"1", "3", "6", "12", "24"}
        assert set(s["targets_met"]) == {
            "skill_positive_every_h_ge_3",
            "nse_6h_ge_0.8_every_station",
            "hit_rate_6h_ge_0.8",
            "false_warning_rate_le_0.1",
        }
        assert {"hit_rate_6h", "false_warning_rate", "median_lead_h"} <= set(s["warnings"])
    # The same seasons without the rain forecasts, for comparison, with the same figures.
    assert set(out["simulator_without_rain_forecast"]["targets_met"]) == set(out["simulator"]["targets_met"])
    sim = out["simulator"]
    # The routed station: within its upstream travel time the regression must be far better than persistence.
    lb = sim["stations"]["hong-ha-noi-long-bien"]
    assert lb["3"]["nse_skill"] > 0.5 and lb["6"]["nse"] > 0.9
    assert sim["travel_times_h"]["hong-ha-noi-long-bien<-hong-son-tay"][0] in range(5, 11)
