"""``iocgw grafana export`` (file provisioning) and ``iocgw grafana push`` (HTTP API through grafana-client)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic import ValidationError

from hub.grafana.bundle import BundleOptions, build_bundle

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--influx-url", default="http://127.0.0.1:8086", help="InfluxDB URL as Grafana's server sees it")
    p.add_argument("--database", default="iocgw", help="the hub's InfluxDB database")
    p.add_argument("--folder", default="iocgw", help="Grafana folder for the dashboards and alert rules")
    p.add_argument(
        "--contact-url",
        default="http://127.0.0.1:8080/grafana-alerts",
        help="webhook the contact point of the Grafana-managed alert rules posts to",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="grafana_command", metavar="{export,push}", required=True)
    ex = sub.add_parser("export", help="write Grafana file provisioning (data source, dashboards, alert rules)")
    ex.add_argument("--out", required=True, type=Path, help="folder to write provisioning/ and dashboards/ into")
    ex.add_argument(
        "--dashboards-path",
        type=Path,
        help="where Grafana sees OUT/dashboards, if not at the same path (a container mount)",
    )
    _common(ex)
    ex.set_defaults(grafana_func=_export)
    pu = sub.add_parser("push", help="push folder, data source, dashboards and alert rules to a running Grafana")
    pu.add_argument("--url", required=True, help="Grafana's base URL, e.g. http://127.0.0.1:3000")
    pu.add_argument("--token-file", required=True, type=Path, help="file holding a service-account token")
    pu.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    _common(pu)
    pu.set_defaults(grafana_func=_push)


OPTION_OF = {
    "influx.url": "--influx-url",
    "influx.database": "--database",
    "folder": "--folder",
    "contact.webhook_url": "--contact-url",
}


def _options(args: argparse.Namespace) -> BundleOptions:
    return BundleOptions.model_validate(
        {
            "influx": {"url": args.influx_url, "database": args.database},
            "folder": args.folder,
            "contact": {"webhook_url": args.contact_url},
        }
    )


def _export(args: argparse.Namespace, options: BundleOptions) -> int:
    from hub.grafana.export import export

    try:
        files = export(args.out, options, args.dashboards_path)
    except OSError as exc:
        print(f"iocgw grafana export: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in files:
        print(path)
    return EXIT_OK


def _push(args: argparse.Namespace, options: BundleOptions) -> int:
    from hub.grafana.push import PushError, connect, push

    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", args.url):
        print(f"iocgw grafana push: --url {args.url!r} is not an http:// or https:// URL", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"iocgw grafana push: cannot read --token-file {args.token_file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if not token:
        print(f"iocgw grafana push: --token-file {args.token_file} is empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = push(connect(args.url, token, args.timeout), build_bundle(options))
    except PushError as exc:
        print(f"iocgw grafana push: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report.summary())
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except ValidationError as exc:
        for e in exc.errors():
            where = ".".join(str(x) for x in e["loc"])
            print(f"iocgw grafana: {OPTION_OF.get(where, where)} {e['input']!r}: {e['msg']}", file=sys.stderr)
        return EXIT_USAGE
    return int(args.grafana_func(args, options))
