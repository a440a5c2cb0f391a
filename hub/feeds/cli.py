"""``iocgw feeds import FILE...`` and ``iocgw feeds serve --config feeds.yaml``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from hub.config import HubInflux
from hub.feeds.config import FeedsConfig, load_feeds_config
from hub.feeds.formats import FeedFileError, read_file
from hub.feeds.importers import FEED_KINDS, ImportContext
from hub.feeds.merge import refresh
from hub.feeds.pipeline import ImportReport, failed_read, run_import
from hub.feeds.sink import InfluxSink
from hub.feeds.store import FeedState
from hub.feeds.units import UnitTableError, load_units
from plumbing.configfile import ConfigError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="feeds_command", metavar="{import,serve}")
    sub.required = True
    imp = sub.add_parser("import", help="import feed files (CSV, JSON, XLSX) into InfluxDB")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--kind", default="auto", choices=["auto", *FEED_KINDS.names()])
    imp.add_argument("--config", type=Path, help="feeds.yaml (InfluxDB, data_dir, anomaly thresholds)")
    imp.add_argument("--influx-url", help="InfluxDB URL (overrides the config; default http://127.0.0.1:8086)")
    imp.add_argument("--database", help="InfluxDB database (default iocgw)")
    imp.add_argument("--data-dir", type=Path, help="where feeds.db (dead letters, import log) lives")
    imp.add_argument("--partial", action="store_true", help="import the good rows of a file that has bad ones")
    imp.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    imp.set_defaults(feeds_func=_cmd_import)
    srv = sub.add_parser("serve", help="poll the HTTP sources of a config file on their schedules")
    srv.add_argument("--config", type=Path, required=True)
    srv.set_defaults(feeds_func=_cmd_serve)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.feeds_func(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except UnitTableError as exc:
        print(f"iocgw feeds: the admin-unit reference is inconsistent: {exc}", file=sys.stderr)
        return 2


def _import_config(args: argparse.Namespace) -> FeedsConfig:
    config = load_feeds_config(args.config) if args.config else FeedsConfig()
    influx = config.influx.model_dump()
    if args.influx_url:
        influx["url"] = args.influx_url
    if args.database:
        influx["database"] = args.database
    update: dict = {"influx": HubInflux.model_validate(influx)}
    if args.data_dir:
        update["data_dir"] = args.data_dir
    return config.model_copy(update=update)


def make_context(config: FeedsConfig, dry_run: bool = False) -> ImportContext:
    return ImportContext(
        units=load_units(config.reference_dir),
        rules=config.anomaly,
        sink=InfluxSink(config.influx),
        state=FeedState(config.data_dir / "feeds.db"),
        dry_run=dry_run,
    )


def _cmd_import(args: argparse.Namespace) -> int:
    config = _import_config(args)
    ctx = make_context(config, dry_run=args.dry_run)
    reports: list[ImportReport] = []
    try:
        for i, name in enumerate(args.files, start=1):
            print(f"[{i}/{len(args.files)}] {name} ...", file=sys.stderr, flush=True)
            try:
                doc = read_file(name)
            except FeedFileError as exc:
                report = failed_read(name, str(exc), ctx, exc.rows)
            else:
                report = run_import(doc, ctx, args.kind, partial=args.partial)
            reports.append(report)
            _print_report(report, args.partial)
        if not args.dry_run and any(r.committed and r.points for r in reports):
            assert ctx.sink is not None
            try:
                units = refresh(ctx.sink, ctx.units, config.hazard)
                print(f"unit_hazard view refreshed for {units} units", file=sys.stderr)
            except Exception as exc:  # the import itself is in; the view catches up on the next refresh
                print(f"warning: refreshing the unit_hazard view failed: {exc}", file=sys.stderr)
    finally:
        if ctx.sink is not None:
            ctx.sink.close()
        if ctx.state is not None:
            ctx.state.close()
    rows = sum(r.rows for r in reports)
    accepted = sum(r.accepted for r in reports)
    rejected = sum(r.rejected for r in reports)
    failed = sum(1 for r in reports if r.error)
    verb = "would be written" if args.dry_run else "written"
    print(
        f"total: {len(reports)} files, {rows} rows, {accepted} accepted, {rejected} rejected, {failed} files failed, "
        f"{sum(r.points for r in reports)} points {verb}"
    )
    return 0 if all(r.ok for r in reports) else 1


def _print_report(report: ImportReport, partial: bool) -> None:
    print(report.summary())
    for r in report.rejections:
        print(f"  {report.source}: row {r.row}: {r.reason}")
    if report.rejections and not report.committed and not report.error and not partial:
        print(f"  {report.source}: the file was not imported; fix the rows above, or pass --partial for the good ones")


def _cmd_serve(args: argparse.Namespace) -> int:
    from hub.feeds.schedule import FeedService

    config = load_feeds_config(args.config)
    if not config.sources:
        print(f"{args.config}: no sources to poll", file=sys.stderr)
        return 2
    ctx = make_context(config)
    service = FeedService(config, ctx)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    try:
        asyncio.run(run())
    finally:
        if ctx.sink is not None:
            ctx.sink.close()
        if ctx.state is not None:
            ctx.state.close()
    return 0
