"""The ``iocgw`` command: one entry point, thin subcommands that call into the packages.

Exit codes: 0 success; 1 the work failed; 2 bad usage or a bad config file; 130 interrupted; 141 the reader of the
output went away (``iocgw ... | head``), as for a program ended by SIGPIPE.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from iocgw import __version__
from plumbing import logredact
from plumbing.configfile import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


def _run_until_signal(
    main: Callable[[asyncio.Event], Awaitable[None]], on_hup: Callable[[], None] | None = None
) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if on_hup is not None:
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        await main(stop)

    asyncio.run(runner())
    return EXIT_OK


def cmd_edge_run(args: argparse.Namespace) -> int:
    from edge.agent import Agent
    from wire.nodeconfig import load_node_config

    config = load_node_config(args.config)
    if args.forget_remote_config:
        from edge.remote import RemoteConfigStore

        if RemoteConfigStore(config.data_dir).clear():
            print("iocgw edge: forgot the remote configuration; starting on the local file", flush=True)
    agent = Agent.open(config)  # before the loop runs: the outbox and the remembered config are files
    config = agent.config
    remote = f", remote config {agent.config_version}" if agent.config_version else ""
    print(
        f"iocgw edge: node {config.node_id}, {len(config.sensors)} sensors, broker "
        f"{config.mqtt.host}:{config.mqtt.port}, outbox {config.outbox_path}{remote}",
        flush=True,
    )
    return _run_until_signal(agent.run)


def cmd_edge_schema(args: argparse.Namespace) -> int:
    from wire.nodeconfig import node_config_schema

    text = node_config_schema()
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def _validate_files(files: list[str], load: Callable[[str], object]) -> int:
    """Check each file; every problem printed with file, line and field; exit 2 if any file is bad."""
    bad = 0
    for path in files:
        try:
            load(path)
            print(f"{path}: ok")
        except ConfigError as exc:
            bad += 1
            print(exc, file=sys.stderr)
    return EXIT_USAGE if bad else EXIT_OK


def cmd_edge_validate(args: argparse.Namespace) -> int:
    from wire.nodeconfig import validate_node_file

    return _validate_files(args.files, lambda path: validate_node_file(path, template=args.template))


def cmd_hub_validate(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config

    return _validate_files(args.files, load_hub_config)


def cmd_hub_run(args: argparse.Namespace) -> int:
    from hub.config import load_hub_config
    from hub.service import Hub, HubStartError

    config = load_hub_config(args.config)
    hub = Hub(config, config_dir=Path(args.config).resolve().parent)

    def started() -> None:
        # One write: a log line from another thread must not land between the text and its newline.
        sys.stdout.write(
            f"iocgw hub: running; broker {config.mqtt.host}:{config.mqtt.port} as {config.mqtt.client_id}, "
            f"InfluxDB {config.influx.url} ({config.influx.api}), HTTP {config.http.host}:{hub.http_port}\n"
        )
        sys.stdout.flush()

    hub.on_started = started

    reloads: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references to tasks

    async def reload_rules() -> None:
        # SIGHUP re-reads the rule files; a bad edit is reported and the running rules stay in force.
        try:
            await hub.reload()
            # Said here because this is where someone who has just added a node file will look.
            logging.getLogger("iocgw").info("rules reloaded (node files are read at start: restart for a new node)")
        except Exception as exc:
            logging.getLogger("iocgw").error("rules not reloaded: %s", exc)

    def reload() -> None:
        # A signal handler runs on the loop: the files are read in a worker (Hub.reload), not here.
        task = asyncio.get_running_loop().create_task(reload_rules())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        return _run_until_signal(hub.run, on_hup=reload)
    except HubStartError as exc:
        print(f"iocgw hub: not started: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED


def cmd_contract_schemas(args: argparse.Namespace) -> int:
    from wire.schema import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from iocgw.demo import run_demo

    return run_demo(Path(args.runtime), duration_s=args.duration, nodes=args.nodes)


def _command_words(argv: Sequence[str]) -> list[str]:
    """The words that pick the subcommand (``sim camera render`` ...): every argument that is not an option."""
    return [a for a in argv if not a.startswith("-")]


def _delegate_to(parser: argparse.ArgumentParser, module: str, chosen: Sequence[str]) -> None:
    """A subcommand whose options and work live in ``module`` (``add_arguments(parser)``, ``main(args) -> int``).

    The module is imported only when ``chosen`` (the command words given) names this subcommand: each role's install
    holds only its own libraries, and ``iocgw edge run`` must not import the hub's, the simulators' or the
    benchmarks' (docs/install.md). A module that cannot be imported (a slim edge install without OpenCV, a wheel
    without the benchmarks) says so when the subcommand is used, instead of the subcommand silently losing its options.
    """
    path = parser.prog.split()[1:]  # "iocgw sim camera" -> ["sim", "camera"]
    if list(chosen[: len(path)]) != path:
        return
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        reason = f"iocgw: {parser.prog} is not available in this install ({exc})"

        def missing(args: argparse.Namespace) -> int:
            print(reason, file=sys.stderr)
            return EXIT_FAILED

        parser.set_defaults(func=missing)
        return
    mod.add_arguments(parser)
    parser.set_defaults(func=lambda args: int(mod.main(args)))


# The packages whose import registers their built-in plugins; `iocgw plugins` lists what this install has.
PLUGIN_PACKAGES = (
    "edge.actuators",
    "edge.drivers",
    "edge.inference",
    "hub.alerts.notify",
    "hub.feeds.importers",
    "hub.grafana.dashboards",
    "hub.warn.channels",
    "simulators.sensors.models",
    "simulators.sensors.faults",
)


def cmd_plugins(args: argparse.Namespace) -> int:
    from plumbing.plugins import describe_all

    loaded, missing = [], []
    for name in PLUGIN_PACKAGES:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError as exc:  # a role's install holds only its own libraries (docs/install.md)
            missing.append(f"{name} ({exc})")
    for kind, names in describe_all(loaded).items():
        print(f"{kind}: {', '.join(names) or '(none)'}")
    for line in missing:
        print(f"not in this install: {line}", file=sys.stderr)
    return EXIT_OK


Delegate = Callable[[argparse.ArgumentParser, str], None]
# argparse types its subparsers object only privately (_SubParsersAction): the group builders take it as Any.


def _add_edge(sub: Any) -> None:
    edge = sub.add_parser("edge", help="run or check an edge node").add_subparsers(dest="edge_cmd", required=True)
    run = edge.add_parser("run", help="sample sensors and publish to the broker through the durable outbox")
    run.add_argument("--config", required=True, help="node config YAML (see firmware_configs/)")
    run.add_argument(
        "--forget-remote-config",
        action="store_true",
        help="drop the configuration the hub last pushed (kept in the data dir) and start on --config",
    )
    run.set_defaults(func=cmd_edge_run)
    val = edge.add_parser("validate", help="check node config files; report file, line and field of each problem")
    val.add_argument("files", nargs="+")
    val.add_argument(
        "--template",
        action="store_true",
        help="the files are templates or examples: placeholders allowed, each on a line marked '# CHANGE' "
        "(a node's own file must hold none)",
    )
    val.set_defaults(func=cmd_edge_validate)
    schema = edge.add_parser(
        "schema", help="write the node config's JSON Schema (editors check firmware_configs/ files against it)"
    )
    schema.add_argument("--out", default="firmware_configs/node-config.schema.json", help="file, or - for stdout")
    schema.set_defaults(func=cmd_edge_schema)


def _add_hub(sub: Any) -> None:
    hub = sub.add_parser("hub", help="run the hub").add_subparsers(dest="hub_cmd", required=True)
    hrun = hub.add_parser("run", help="ingest MQTT into InfluxDB; serve /healthz and /metrics")
    hrun.add_argument("--config", required=True, help="hub config YAML (see docs/operations.md)")
    hrun.set_defaults(func=cmd_hub_run)
    hval = hub.add_parser("validate", help="check hub config files; report file, line and field of each problem")
    hval.add_argument("files", nargs="+")
    hval.set_defaults(func=cmd_hub_validate)


def _add_contract(sub: Any) -> None:
    contract = sub.add_parser("contract", help="the wire contract").add_subparsers(dest="contract_cmd", required=True)
    sch = contract.add_parser("schemas", help="write the JSON Schema files generated from the models")
    sch.add_argument("--out", default="docs/schemas")
    sch.set_defaults(func=cmd_contract_schemas)
    plugins = sub.add_parser("plugins", help="list every plugin registry and the plugins this install has")
    plugins.set_defaults(func=cmd_plugins)


def _add_sim(sub: Any, delegate: Delegate) -> None:
    sim = sub.add_parser("sim", help="simulators for testers").add_subparsers(dest="sim_cmd", required=True)
    delegate(sim.add_parser("sensors", help="run N simulated nodes from a scenario file"), "simulators.sensors.runner")
    delegate(
        sim.add_parser("replay", help="replay a scenario with scenario-time timestamps, as fast as links drain"),
        "simulators.sensors.replay",
    )
    delegate(
        sim.add_parser("camera", help="render camera scenes to video files with ground truth, or serve them as MJPEG"),
        "simulators.camera.cli",
    )


def _add_hub_tools(sub: Any, delegate: Delegate) -> None:
    delegate(
        sub.add_parser("grafana", help="Grafana dashboards, alert rules and provisioning as code (export, push)"),
        "hub.grafana.cli",
    )
    delegate(
        sub.add_parser("feeds", help="administrative data feeds: import files, serve scheduled HTTP pulls"),
        "hub.feeds.cli",
    )
    delegate(
        sub.add_parser("provision", help="certificate authority, node certificates, Mosquitto TLS and ACL config"),
        "hub.provision.cli",
    )


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the whole system on this machine: broker, InfluxDB, hub, simulated nodes")
    demo.add_argument("--runtime", default="run/demo", help="folder for the services' data and logs")
    demo.add_argument("--duration", type=float, default=60.0, help="seconds to run (0: until Ctrl-C)")
    demo.add_argument("--nodes", type=int, default=None, help="override the number of simulated nodes")
    demo.set_defaults(func=cmd_demo)


def _add_bench(sub: Any, delegate: Delegate) -> None:
    bench = sub.add_parser("bench", help="benchmarks (each ends with one JSON line)").add_subparsers(
        dest="bench_cmd", required=True
    )
    for name, help_text in (
        ("camera", "camera inference: latency, cameras per node, onset to event"),
        ("feeds", "administrative feed import throughput and merged-view refresh"),
        ("ingest", "end-to-end ingest throughput, latency and loss"),
        ("alerts", "alert latency: threshold crossing to signed webhook, under load"),
        ("hostile", "a hostile node among good ones: nothing lost, doubled or alarmed on"),
        ("forecast", "river-stage forecast skill: NSE and RMSE against persistence, threshold warnings"),
        ("public_page", "public status page: first paint in headless Chromium on a throttled 3G phone, bytes"),
        ("warnings", "public warnings by SMS through Kannel: BĐ3 to SMS latency, fan-out across a hub SIGKILL"),
        ("console", "operator console at 500 stations: first paint, update, bytes, alarm to page; --screenshots DIR"),
    ):
        delegate(bench.add_parser(name, help=help_text), f"bench.{name}")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``argv`` (default: this process's) decides which delegated subcommand is imported."""
    chosen = _command_words(sys.argv[1:] if argv is None else argv)

    def delegate(parser: argparse.ArgumentParser, module: str) -> None:
        _delegate_to(parser, module, chosen)

    p = argparse.ArgumentParser(
        prog="iocgw",
        description="Edge-IoT and camera gateway with a central hub for provincial Intelligent Operations Centres.",
        epilog="Exit codes: 0 ok, 1 failed, 2 bad usage or config, 130 interrupted, 141 output pipe closed.",
    )
    p.add_argument("--version", action="version", version=f"iocgw {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_edge(sub)
    _add_hub(sub)
    _add_contract(sub)
    _add_sim(sub, delegate)
    _add_hub_tools(sub, delegate)
    _add_demo(sub)
    _add_bench(sub, delegate)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a reader that went away shows here, not as a traceback at interpreter exit
    except BrokenPipeError:
        # Python's own advice: point stdout at /dev/null, so the final flush at exit has nowhere to fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logredact.install()  # no token reaches a log, whichever library writes the line
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
