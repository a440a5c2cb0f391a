"""The operator console at IOC scale in headless Chromium: ``python -m bench.console`` (or ``iocgw bench console``).

A real Mosquitto, InfluxDB and hub process (bench/_console_world.py): ``--stations`` river stations with 72 h of
history, ``--alarmed`` of them over their BĐ levels, ``--cameras`` camera nodes, ``--fires`` of them with a confirmed
detection and its snapshot; about 200 active alarms at the defaults (flood, the provinces' disaster-risk levels,
camera fires). Debian's Chromium (through Playwright), signed in once, then for each view:

- loads the page at the view's link (``/#map`` ...) with the cache off ``--loads`` times and reads when the view's
  content is complete (every alarm row, every map marker, every station row...: the *first meaningful paint*, ms from
  navigation start), the first contentful paint, and the bytes transferred (every resource, snapshots and live
  views excluded; the vendored libraries count in full, as for a browser that never saw the page);
- times ``--updates`` refreshes of the open view in the page itself (fetch + redraw: what each push or poll costs);
- with the alarms view open and polling off, raises ``--pushes`` new alarms (a quiet station's reading over BĐ1,
  published over MQTT) and times publish to row on the page (MQTT, ingest, engine, server-sent event, fetch, redraw).

``--screenshots DIR`` also writes each view at wall (1920x1080, wall mode), laptop (1366x768) and phone (390x844)
size into DIR (docs/screenshots in the repository). Targets (issue 16): first meaningful paint < 1,500 ms, each
update < 200 ms, transfer < 500 KB, alarm to page < 1 s. Progress on stderr, one JSON line last on stdout; exit 0 when
every target is met. Documented in docs/console.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._console_world import TOKEN, Feed, Sizes, World, feed_live, station_level
from bench._report import bench_main, log, percentile, rnd, run_cli
from testkit.browser import CHROMIUM, FLAGS, MISSING
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto

NAME = "console"
TARGET_FMP_MS = 1500.0
TARGET_UPDATE_MS = 200.0
TARGET_BYTES = 500 * 1024
TARGET_PUSH_MS = 1000.0
LAPTOP = {"width": 1366, "height": 768}
SIZES = {"wall": {"width": 1920, "height": 1080}, "laptop": LAPTOP, "phone": {"width": 390, "height": 844}}


def views(world: World, expected_alarms: int) -> list[tuple[str, str, str]]:
    """(name, link, the JavaScript condition that says the view's content is complete)."""
    worst = world.stations[2]["station_id"]  # over BĐ3
    n_st, n_nodes, n_cam = len(world.stations), len(world.nodes), len(world.cameras)
    count = "document.querySelectorAll"
    return [
        ("alerts", "#alerts", f"{count}('#alerts tbody tr').length >= {expected_alarms}"),
        ("rivers", "#situation/rivers", f"{count}('#situation-rivers-table tbody tr').length >= {n_st}"),
        (
            "river_chart",
            f"#situation/rivers/{worst}",
            f"{count}('#situation-chart canvas').length > 0 && {count}('#situation-chart [data-level=bd3]').length > 0",
        ),
        ("map", "#map", f"{count}('#view-map path.leaflet-interactive').length >= {n_nodes}"),
        ("cameras", "#cameras", f"{count}('#view-cameras .cam-card').length >= {n_cam}"),
        (
            "camera",
            f"#cameras/{world.cameras[0][0]}/{world.cameras[0][1]}",
            f"{count}('#view-cameras img').length > 0 && [...{count}('#view-cameras img')].some(i => i.naturalWidth)",
        ),
        ("nodes", "#nodes", f"{count}('#view-nodes tr[data-node-id]').length >= {n_nodes}"),
    ]


# Bytes of one load: the document and every resource, but camera pictures and live views (the target excludes them).
TRANSFER_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  let total = nav ? nav.transferSize : 0;
  for (const r of performance.getEntriesByType('resource')) {
    if (r.name.includes('/api/snapshots/') || r.name.endsWith('/live')) continue;
    total += r.transferSize;
  }
  return total;
}"""
FCP_JS = (
    """() => { const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null; }"""
)
UPDATE_JS = """async ([name, arg]) => {
  const t0 = performance.now();
  await VIEWS.get(name).refresh(document.getElementById('view-' + name), arg);
  await new Promise((r) => requestAnimationFrame(() => r()));
  return performance.now() - t0;
}"""
# Records, for every alarm row that appears, the wall-clock time it appeared (the same clock as Python's time.time()).
WATCH_JS = """() => {
  window.__seen = {};
  new MutationObserver(() => {
    for (const tr of document.querySelectorAll('#alerts tbody tr')) {
      const id = tr.dataset.alertId;
      if (id && !(id in window.__seen)) window.__seen[id] = performance.timeOrigin + performance.now();
    }
  }).observe(document.querySelector('#alerts tbody'), { childList: true });
  for (const tr of document.querySelectorAll('#alerts tbody tr')) window.__seen[tr.dataset.alertId] = 0;
}"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stations", type=int, default=500, help="river stations (default 500)")
    p.add_argument(
        "--alarmed", type=int, default=190, help="stations over a BĐ level (default 190; with the fires: 200)"
    )
    p.add_argument("--cameras", type=int, default=100, help="camera nodes (default 100)")
    p.add_argument("--fires", type=int, default=10, help="cameras with a confirmed fire (default 10)")
    p.add_argument("--loads", type=int, default=None, help="page loads per view (default 5; --quick 2)")
    p.add_argument("--updates", type=int, default=None, help="timed refreshes per view (default 10; --quick 3)")
    p.add_argument("--pushes", type=int, default=None, help="alarms raised while the page watches (default 10)")
    p.add_argument("--screenshots", type=Path, default=None, help="write wall, laptop and phone screenshots here")
    p.add_argument("--quick", action="store_true", help="a short run: fewer loads, refreshes and pushes")


def _sign_in(context: Any, base: str) -> None:
    page = context.new_page()
    page.goto(f"{base}/")
    page.fill("#token", TOKEN)
    page.click("#login-form button")
    page.wait_for_selector("#who-name:has-text('truc-ban-1')")
    page.close()


def _load(context: Any, base: str, link: str, ready: str) -> dict[str, float]:
    page = context.new_page()
    try:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        page.goto(f"{base}/?refresh_ms=600000{link}", wait_until="commit")
        page.wait_for_function(f"() => {ready}", timeout=30_000, polling="raf")
        fmp = float(page.evaluate("performance.now()"))
        fcp = page.evaluate(FCP_JS)
        # Let what the view fetched after it drew (pictures, the event stream) settle before counting bytes.
        page.wait_for_load_state("networkidle")
        return {"fmp": fmp, "fcp": float(fcp) if fcp is not None else float("nan"), "bytes": page.evaluate(TRANSFER_JS)}
    finally:
        page.close()


def _updates(context: Any, base: str, link: str, ready: str, n: int) -> list[float]:
    page = context.new_page()
    try:
        page.goto(f"{base}/?refresh_ms=600000{link}")
        page.wait_for_function(f"() => {ready}", timeout=30_000, polling="raf")
        name, _, arg = link[1:].partition("/")
        return [float(page.evaluate(UPDATE_JS, [name, arg])) for _ in range(n)]
    finally:
        page.close()


def _pushes(context: Any, base: str, world: World, feed: Feed, ready: str, n: int) -> list[float]:
    page = context.new_page()
    try:
        page.goto(f"{base}/?refresh_ms=600000#alerts")
        page.wait_for_function(f"() => {ready}", timeout=30_000, polling="raf")
        page.evaluate(WATCH_JS)
        latencies = []
        for k in range(n):
            i = world.sizes.stations - 1 - k  # a quiet station, far from the alarmed ones
            before = page.evaluate("Object.keys(window.__seen).length")
            sent = time.time()
            feed.stage(world.stations[i]["node_id"], 10.2)
            page.wait_for_function(f"() => Object.keys(window.__seen).length > {before}", timeout=10_000, polling="raf")
            seen = page.evaluate("Math.max(...Object.values(window.__seen))") / 1000
            latencies.append((seen - sent) * 1000)
        return latencies
    finally:
        page.close()


def _screenshots(browser: Any, base: str, world: World, expected: int, out: Path) -> list[str]:
    """Each view at each size, taken once the view's content is complete (as the load timing waits for it)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    shots = {"alerts", "river_chart", "map", "camera", "nodes"}
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, is_mobile=size == "phone", device_scale_factor=1)
        try:
            _sign_in(context, base)
            for name, link, ready in views(world, expected):
                if name not in shots:
                    continue
                page = context.new_page()
                page.goto(f"{base}/?refresh_ms=600000{'&wall=1' if size == 'wall' else ''}{link}")
                page.wait_for_function(f"() => {ready}", timeout=30_000, polling="raf")
                page.wait_for_load_state("networkidle")
                path = out / f"console-{name.replace('_', '-')}-{size}.png"
                page.screenshot(path=str(path))
                written.append(str(path))
                page.close()
        finally:
            context.close()
    return written


def _summary(values: list[float]) -> dict[str, float | None]:
    return {"median": rnd(percentile(values, 50)), "max": rnd(max(values) if values else None)}


def run(a: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(MISSING)
    loads = a.loads if a.loads is not None else (2 if a.quick else 5)
    updates = a.updates if a.updates is not None else (3 if a.quick else 10)
    pushes = a.pushes if a.pushes is not None else (3 if a.quick else 10)
    sizes = Sizes(a.stations, a.alarmed, a.cameras, a.fires)
    if not (1 <= sizes.alarmed + pushes <= sizes.stations and 1 <= sizes.fires <= sizes.cameras):
        raise ValueError("need --alarmed + pushes <= --stations and 1 <= --fires <= --cameras")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="iocgw-bench-console-") as tmp:
        work = Path(tmp)
        broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
        world = World(work, sizes)
        broker.start()
        influx.start()
        hub = HubProcess(work / "hub", world.hub_config(broker.port, influx.url))
        feed = None
        try:
            hub.start()
            base = f"http://127.0.0.1:{hub.http_port}"
            log(f"hub up at {base}; writing 72 h of history", NAME)
            history = world.write_history(influx.url, datetime.now(UTC))
            feed = Feed(broker.port)
            feed_live(world, feed, reserved=pushes)
            expected = _wait_alarms(base, sizes)
            log(f"{len(world.nodes)} nodes, {history} history readings, {expected} active alarms", NAME)
            results: dict[str, Any] = {}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
                try:
                    context = browser.new_context(viewport=LAPTOP)
                    _sign_in(context, base)
                    for name, link, ready in views(world, expected):
                        runs = [_load(context, base, link, ready) for _ in range(loads)]
                        times = _updates(context, base, link, ready, updates)
                        results[name] = {
                            "fmp_ms": _summary([r["fmp"] for r in runs]),
                            "fcp_ms": _summary([r["fcp"] for r in runs]),
                            "transfer_kb": rnd(max(r["bytes"] for r in runs) / 1024),
                            "update_ms": _summary(times),
                        }
                        log(f"{name}: {results[name]}", NAME)
                    push = _pushes(context, base, world, feed, views(world, expected)[0][2], pushes)
                    log(f"alarm to page: {_summary(push)}", NAME)
                    shots = _screenshots(browser, base, world, expected, a.screenshots) if a.screenshots else []
                finally:
                    browser.close()
        finally:
            if feed is not None:
                feed.close()
            hub.stop()
            influx.stop()
            broker.stop()
    worst_fmp = max(float(r["fmp_ms"]["max"]) for r in results.values())
    worst_update = max(float(r["update_ms"]["max"]) for r in results.values())
    worst_bytes = max(float(r["transfer_kb"]) for r in results.values()) * 1024
    targets = {
        "fmp": worst_fmp < TARGET_FMP_MS,
        "update": worst_update < TARGET_UPDATE_MS,
        "transfer": worst_bytes < TARGET_BYTES,
        "push": max(push) < TARGET_PUSH_MS,
    }
    return {
        "bench": NAME,
        "stations": sizes.stations,
        "cameras": sizes.cameras,
        "nodes": len(world.nodes),
        "active_alarms": expected,
        "loads_per_view": loads,
        "updates_per_view": updates,
        "views": results,
        "push_ms": {**_summary(push), "n": len(push)},
        "worst": {"fmp_ms": rnd(worst_fmp), "update_ms": rnd(worst_update), "transfer_kb": rnd(worst_bytes / 1024)},
        "targets": {
            "fmp_ms": TARGET_FMP_MS,
            "update_ms": TARGET_UPDATE_MS,
            "transfer_kb": TARGET_BYTES / 1024,
            "push_ms": TARGET_PUSH_MS,
        },
        "targets_met": targets,
        "screenshots": shots,
        "seconds": rnd(time.perf_counter() - started, 1),
    }


def _wait_alarms(base: str, sizes: Sizes) -> int:
    """Until the engine has raised every alarm the feed implies (and the count holds); returns how many."""
    import json
    import urllib.request

    deadline = time.monotonic() + 120
    req = urllib.request.Request(
        f"{base}/api/alerts?active=true&limit=1000", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    floods = sum(1 for i in range(sizes.stations) if station_level(i, sizes) >= 10.0)
    while time.monotonic() < deadline:
        with urllib.request.urlopen(req, timeout=10) as resp:
            alerts = json.loads(resp.read())["alerts"]
        rules = [a["rule"] for a in alerts]
        if rules.count("flood_level") >= floods and rules.count("camera_fire") >= sizes.fires:
            return len(alerts)
        time.sleep(0.5)  # a poll of the hub's own API: there is no event to wait on from outside the process
    raise RuntimeError(f"the alarms did not all come within 120 s ({len(alerts)} active)")


def main(args: argparse.Namespace) -> int:
    """Run the console benchmark; one JSON line last on stdout; 0 when every target is met."""
    return bench_main(NAME, run, args, lambda r: all(r["targets_met"].values()))


if __name__ == "__main__":
    sys.exit(run_cli(NAME, __doc__, add_arguments, main))
