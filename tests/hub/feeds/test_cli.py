"""``iocgw feeds import`` / ``serve`` as a user runs them: output, summary and exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.feeds.units import DATA_DIR
from hub.store.influx_query import query
from iocgw import cli
from testkit.localsvc import InfluxDB
from tests.hub.feeds.helpers import DB, indicator, service, write_csv, write_xlsx


def feeds(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "iocgw", "feeds", *args], capture_output=True, text=True, timeout=120, check=False
    )


def feeds_here(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The same parser and code in this process (a child costs seconds of imports on a busy machine)."""
    try:
        code = cli.main(["feeds", *args])
    except SystemExit as exc:  # argparse on bad usage
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


@pytest.mark.services
def test_import_reports_each_rejection_with_file_row_and_reason(
    influx: InfluxDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_csv(tmp_path / "good.csv", "indicators", [indicator("population", "46", "2025", 1_432_000, "Y")])
    rows = [
        indicator("population", "03", "2025", 1, "Y"),  # sequential numbering
        indicator("population", "10", "2025", 2, "Y"),  # retired, maps to 15: accepted
        indicator("population", "001", "2025", 3, "Y"),  # district
        indicator("population", "12345", "2025", 4, "Y"),  # unknown commune
        indicator("population", "00022", "2025", 5, "Y"),  # split
        indicator("population", "46", "2025-13", 6, "M"),  # bad period
        indicator("population", "0000123", "2025", 7, "Y"),  # wrong length
        indicator("population", "00010", "2025", 8, "Y"),  # retired, its mapping removed from this reference
    ]
    bad = write_xlsx(tmp_path / "bad.xlsx", "indicators", rows)
    ref = tmp_path / "ref"
    shutil.copytree(DATA_DIR, ref)
    mapping = ref / "mapping_2025.csv"
    mapping.write_text("".join(ln for ln in mapping.read_text().splitlines(True) if ",00010," not in ln))
    config = tmp_path / "feeds.yaml"
    config.write_text(f"reference_dir: {ref}\ninflux: {{url: 'http://127.0.0.1:1', database: other}}\n")
    common = ["--config", str(config), "--influx-url", influx.url, "--database", DB, "--data-dir", str(tmp_path / "s")]
    run = feeds("import", str(good), str(bad), *common)
    assert run.returncode == 1, run.stderr
    out = run.stdout
    for row, reason in [
        (3, "unknown province code 03 (sequential 01-34"),
        (5, "district code"),
        (6, "unknown commune code 12345"),
        (7, "split between 00004"),
        (8, "month 13 does not exist"),
        (9, "0000123 is not a GSO code: provinces have 2 digits, communes 5 (got 7)"),
        (10, "commune code 00010 (Phường Nguyễn Trung Trực (quận Ba Đình)) is retired and has no mapping"),
    ]:
        assert f"{bad}: row {row}: " in out and reason in out.split(f"{bad}: row {row}: ")[1].splitlines()[0]
    assert f"{bad}: row 4:" not in out
    assert "total: 2 files, 9 rows, 1 accepted, 7 rejected, 0 files failed, 1 points written" in out
    assert "[2/2]" in run.stderr
    # the good file went in, the bad one left nothing behind
    assert [r["admin_code"] for r in query(influx.url, DB, 'SELECT * FROM "admin_indicator"')] == ["46"]

    again = feeds_here(capsys, "import", str(good), *common)
    assert again.returncode == 0 and "1 accepted, 0 rejected" in again.stdout


@pytest.mark.services
def test_kind_mismatch_unreadable_file_and_dry_run(
    influx: InfluxDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    svc = write_csv(tmp_path / "dvc.csv", "public_service", [service("46", "2025-07", received=3, resolved_on_time=3)])
    common = ["--influx-url", influx.url, "--data-dir", str(tmp_path / "state")]
    mismatch = feeds_here(capsys, "import", "--kind", "indicators", str(svc), *common)
    assert mismatch.returncode == 1 and "says kind=public_service" in mismatch.stdout
    (tmp_path / "nohead.csv").write_text("admin_code,value\n46,1\n")
    nohead = feeds_here(capsys, "import", str(tmp_path / "nohead.csv"), *common)
    assert nohead.returncode == 1 and "line 1 must be the preamble" in nohead.stdout
    dry = feeds_here(capsys, "import", "--dry-run", str(svc), *common)
    assert dry.returncode == 0 and "1 points would be written" in dry.stdout
    assert query(influx.url, DB, 'SELECT * FROM "public_service"') == []


def test_bad_usage_and_bad_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert feeds_here(capsys, "import").returncode == 2
    config = tmp_path / "feeds.yaml"
    config.write_text("sources:\n  - name: x\n    type: weather\n    url: http://127.0.0.1:1/f\n")
    bad = feeds_here(capsys, "serve", "--config", str(config))
    assert bad.returncode == 2 and "line 2" in bad.stderr and "weather" in bad.stderr


def test_example_serve_config_validates() -> None:
    from hub.feeds.config import load_feeds_config

    config = load_feeds_config(Path(__file__).parents[3] / "docs" / "examples" / "feeds" / "feeds.yaml")
    assert [s.type for s in config.sources] == ["indicators", "public_service", "feedback"]


@pytest.mark.services
def test_a_wrong_unit_a_retired_code_and_a_bad_quote_make_the_import_fail(
    influx: InfluxDB, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--influx-url", influx.url, "--data-dir", str(tmp_path / "state")]
    kg = write_csv(tmp_path / "kg.csv", "indicators", [{**indicator("population", "46", "2024", 1, "Y"), "unit": "kg"}])
    run = feeds_here(capsys, "import", str(kg), *common)
    assert run.returncode == 1, run.stdout
    assert f"  {kg}: row 3: unit: 'kg' is not the unit of population: expected 'người'" in run.stdout
    assert "total: 1 files, 1 rows, 0 accepted, 1 rejected, 0 files failed, 0 points written" in run.stdout

    rows = [indicator("population", "10", "2024", 800_000, "Y"), indicator("population", "15", "2024", 850_000, "Y")]
    old = write_csv(tmp_path / "old.csv", "indicators", rows)
    run = feeds_here(capsys, "import", str(old), *common)
    assert run.returncode == 0, run.stdout
    assert (
        f"{old}: indicators: imported; 2 rows, 2 accepted, 0 rejected, 1 points; remapped 10->15 (1 row); "
        in run.stdout
    )
    assert "summed 10+15->15 (1 value)" in run.stdout
    retired = write_csv(tmp_path / "new.csv", "indicators", [indicator("population", "10", "2025-Q3", 1, "Q")])
    run = feeds_here(capsys, "import", str(retired), *common)
    assert (
        run.returncode == 1
        and f"  {retired}: row 3: admin_code: province code 10 (Tỉnh Lào Cai) was retired" in run.stdout
    )

    quote = tmp_path / "quote.csv"
    quote.write_bytes(
        b"# iocgw-feed: kind=indicators; format_version=1\nindicator_code,indicator_name,admin_code,period_type,period,"
        b'value\npopulation,,46,Y,2021,1\npopulation,,46,Y,2022,2\npopulation,"Dan so,46,Y,2023,3\n'
        b"population,,46,Y,2024,4\n"
    )
    run = feeds_here(capsys, "import", str(quote), *common)
    assert run.returncode == 1, run.stdout
    summary = run.stdout.splitlines()[0]
    assert summary.startswith(
        f'{quote}: ?: FAILED: line 5: unterminated quoted field: the " that opens a cell on line 5'
    )
    assert summary.endswith("; 2 rows read") and len(run.stdout.splitlines()) == 2
    assert "total: 1 files, 2 rows, 0 accepted, 0 rejected, 1 files failed, 0 points written" in run.stdout
