"""The README's main command, shortened: everything starts, data flows, nothing is lost."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "iocgw", "demo", "--duration", "12", "--runtime", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "nodes online 13/13" in out
    assert "lost 0;" in out and "dead letters 0" in out
    held = int(out.split("InfluxDB holds ")[1].split(";")[0])
    assert held > 1000
    # A user with Grafana points it at the provisioning folder the demo wrote, for this InfluxDB.
    grafana = tmp_path / "demo" / "grafana" / "provisioning"
    assert f"GF_PATHS_PROVISIONING={grafana}" in out
    datasource = (grafana / "datasources").glob("*.yaml")
    assert any("influxdb" in p.read_text() for p in datasource)
    assert len(list((tmp_path / "demo" / "grafana" / "dashboards").glob("*.json"))) >= 6
