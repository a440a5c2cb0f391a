"""`iocgw grafana push` against a local server that checks requests against Grafana's documented HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.grafana.alerting import CONTACT_POINT, RULES
from hub.grafana.bundle import BundleOptions, build_bundle
from hub.grafana.common import DATASOURCE_UID
from hub.grafana.dashboards import MODULES
from hub.grafana.push import PushError, connect, push
from iocgw.cli import main as iocgw
from tests.hub.grafana.fake_grafana import FakeGrafana

TOKEN = "glsa_test-token"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def _push(grafana: FakeGrafana, options: BundleOptions | None = None):
    return push(connect(grafana.url, TOKEN), build_bundle(options or BundleOptions()))


def test_first_push_creates_everything_as_grafanas_api_wants_it(grafana: FakeGrafana) -> None:
    report = _push(grafana)

    assert grafana.violations == []
    assert report.total("created") == 1 + 1 + 1 + len(MODULES) + len(RULES)
    assert grafana.folders["iocgw"]["title"] == "iocgw"
    ds = grafana.datasources[DATASOURCE_UID]
    assert (ds["type"], ds["jsonData"]["version"], ds["jsonData"]["dbName"]) == ("influxdb", "InfluxQL", "iocgw")
    assert set(grafana.dashboards) == {m.UID for m in MODULES}
    for saved in grafana.dashboards.values():
        assert saved["folderUid"] == "iocgw"
    saves = [r.body for r in grafana.requests if r.path == "/api/dashboards/db"]
    assert all(b["overwrite"] is True and b["dashboard"]["id"] is None for b in saves)
    assert set(grafana.rules) == {r.uid for r in RULES}
    assert all(r["provenance"] == "" for r in grafana.rules.values()), "editable in Grafana's UI"
    provisioning_writes = [r for r in grafana.writes() if "/provisioning/" in r.path]
    assert len(provisioning_writes) == 1 + len(RULES)
    assert all(r.headers.get("X-Disable-Provenance") == "true" for r in provisioning_writes)
    assert [c["name"] for c in grafana.contact_points.values()] == [CONTACT_POINT]


def test_second_push_changes_nothing(grafana: FakeGrafana) -> None:
    _push(grafana)
    before = len(grafana.writes())

    report = _push(grafana)

    assert len(grafana.writes()) == before, [f"{r.method} {r.path}" for r in grafana.writes()[before:]]
    assert report.total("created") == report.total("updated") == 0
    assert report.total("unchanged") == 1 + 1 + 1 + len(MODULES) + len(RULES)
    assert all(d["dashboard"]["version"] == 1 for d in grafana.dashboards.values())


def test_only_what_differs_is_written_again(grafana: FakeGrafana) -> None:
    _push(grafana)
    # Someone edited a dashboard in the UI, and the InfluxDB moved.
    grafana.dashboards["iocgw-hydrology"]["dashboard"]["title"] = "edited by hand"
    before = len(grafana.writes())

    report = _push(grafana, BundleOptions.model_validate({"influx": {"url": "http://influx.ioc.local:8086"}}))

    writes = [f"{r.method} {r.path}" for r in grafana.writes()[before:]]
    assert writes == [f"PUT /api/datasources/uid/{DATASOURCE_UID}", "POST /api/dashboards/db"]
    assert report.counts["datasources"]["updated"] == report.counts["dashboards"]["updated"] == 1
    assert grafana.datasources[DATASOURCE_UID]["url"] == "http://influx.ioc.local:8086"
    assert grafana.dashboards["iocgw-hydrology"]["dashboard"]["version"] == 2
    assert grafana.dashboards["iocgw-hydrology"]["dashboard"]["title"] != "edited by hand"
    assert grafana.violations == []


def test_a_refused_token_is_a_clear_error(grafana: FakeGrafana) -> None:
    with pytest.raises(PushError, match=r"folder iocgw: Grafana answered 401"):
        push(connect(grafana.url, "wrong"), build_bundle(BundleOptions()))
    assert grafana.writes() == []


def test_cli_push_reports_counts_and_exit_codes(grafana: FakeGrafana, token_file: Path, capsys) -> None:
    args = ["grafana", "push", "--url", grafana.url, "--token-file", str(token_file)]
    assert iocgw(args) == 0
    assert f"dashboards: {len(MODULES)} created, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert iocgw(args) == 0
    assert f"dashboards: 0 created, 0 updated, {len(MODULES)} unchanged" in capsys.readouterr().out

    grafana.refuse["POST /api/dashboards/db"] = (403, "You'll need additional permissions to perform this action")
    grafana.dashboards.clear()
    assert iocgw(args) == 1
    err = capsys.readouterr().err
    assert "saving dashboard" in err and "403" in err and "additional permissions" in err


def test_cli_push_usage_errors(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-token"
    assert iocgw(["grafana", "push", "--url", "http://127.0.0.1:9", "--token-file", str(missing)]) == 2
    assert "cannot read --token-file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert iocgw(["grafana", "push", "--url", "http://127.0.0.1:9", "--token-file", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err
    assert iocgw(["grafana", "push", "--url", "grafana:3000", "--token-file", str(empty)]) == 2
    assert "--url 'grafana:3000' is not an http" in capsys.readouterr().err


def test_cli_push_to_nothing_listening_fails_cleanly(token_file: Path, capsys) -> None:
    from testkit.localsvc import free_port

    assert iocgw(["grafana", "push", "--url", f"http://127.0.0.1:{free_port()}", "--token-file", str(token_file)]) == 1
    assert "cannot reach Grafana" in capsys.readouterr().err
