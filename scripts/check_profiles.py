"""Install profiles, checked for real: each role's extra in a clean virtualenv, then the role started.

For each role (edge, camera, hub) this builds one wheel of the working tree, makes a fresh virtualenv, installs
``iocgw-<v>.whl[<role>]`` into it with ``constraints.txt`` (a real wheel install, not editable: the test harness and
the benchmarks are not there, the package data must be), and then starts the role from that virtualenv:

- edge: ``iocgw edge validate`` the examples and templates of firmware_configs/, then ``iocgw edge run`` against a
  real Mosquitto until the node has published its status and a reading;
- camera: the deployed fire / smoke model (models/fire_smoke_real/) loaded with OpenVINO and with LiteRT, one frame
  through each;
- hub: ``iocgw hub validate`` then ``iocgw hub run`` against real Mosquitto and InfluxDB until /healthz answers 200.

Each started process reports, from inside itself once it has stopped, which top-level modules it had loaded; a
forbidden one (the hub's libraries in a node, OpenCV or OpenVINO in the hub, the harness anywhere) fails the check.
Packages a role must not even have installed are checked too. Printed per role: the install size (the virtualenv's
site-packages) and the idle RSS of the started process; the last line is one JSON object of those figures.

    .venv/bin/python scripts/check_profiles.py [--roles edge,hub] [--keep DIR]
    .venv/bin/python scripts/check_profiles.py --lock      # rewrite constraints.txt from .venv

Mosquitto and InfluxDB come from testkit.localsvc, run from the project's own virtualenv (this script's).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
PACKAGES = ("wire", "plumbing", "edge", "hub", "simulators", "iocgw")
ROLES = ("edge", "camera", "hub")
EXTRAS = ("edge", "camera", "hub", "sim", "train", "dev")

# Top-level modules a started role must not have loaded.
HARNESS = {"testkit", "bench", "tests", "pytest", "hypothesis"}
HUB_LIBS = {"hub", "aiohttp", "grafana_client", "grafana_foundation_sdk", "cryptography", "openpyxl", "psycopg"}
FRAME_LIBS = {"cv2", "numpy", "openvino", "ai_edge_litert", "tflite_runtime"}
TRAIN_LIBS = {"tensorflow", "nncf", "keras"}
FORBIDDEN_LOADED = {
    "edge": HARNESS | HUB_LIBS | FRAME_LIBS | TRAIN_LIBS,
    "camera": HARNESS | HUB_LIBS | TRAIN_LIBS,
    "hub": HARNESS | FRAME_LIBS | TRAIN_LIBS | {"edge", "simulators", "pymodbus"},
}
# Distributions a role's install must not contain at all.
FORBIDDEN_INSTALLED = {
    "edge": {"aiohttp", "grafana-client", "grafana-foundation-sdk", "cryptography", "openpyxl", "numpy", "psycopg"}
    | {"opencv-python-headless", "openvino", "ai-edge-litert", "tensorflow-cpu", "jsonschema", "sqlite-utils"},
    "camera": {"aiohttp", "grafana-client", "grafana-foundation-sdk", "openpyxl", "tensorflow-cpu", "jsonschema"}
    | {"sqlite-utils"},
    "hub": {"numpy", "opencv-python-headless", "openvino", "ai-edge-litert", "pymodbus", "tensorflow-cpu"}
    | {"jsonschema", "sqlite-utils"},
}

# Run inside the role's virtualenv: the CLI in this process, then what it loaded, as one JSON line on stderr.
WRAPPER = """
import json, os, sys
from iocgw.cli import main
rc = main(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules if not m.startswith("_")} - set(sys.stdlib_module_names))
print("PROFILE-LOADED " + json.dumps(loaded), file=sys.stderr, flush=True)
sys.exit(rc)
"""

CAMERA_PROBE = """
import json, sys, time
import numpy as np
from edge.inference import Detector, LiteRtConfig, OpenVinoConfig, load_manifest
manifest = load_manifest(sys.argv[1])
frame = np.full((480, 640, 3), 114, np.uint8)
frame[200:300, 280:380] = (30, 90, 240)
out = {}
for config in (OpenVinoConfig(), LiteRtConfig(threads=1)):
    t = time.perf_counter()
    det = Detector.load(manifest, config)
    boxes = det.detect(frame)
    out[config.type] = {"boxes": int(len(boxes)), "ms": round((time.perf_counter() - t) * 1000)}
    det.close()
print("PROFILE-INFER " + json.dumps(out), flush=True)
rss = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")][0]
print("PROFILE-RSS " + str(rss), flush=True)
loaded = sorted({m.split(".")[0] for m in sys.modules if not m.startswith("_")} - set(sys.stdlib_module_names))
print("PROFILE-LOADED " + json.dumps(loaded), file=sys.stderr, flush=True)
"""


class CheckFailed(Exception):
    pass


def log(msg: str) -> None:
    print(f"check_profiles: {msg}", file=sys.stderr, flush=True)


# -- constraints -------------------------------------------------------------------------------------------------


def closure(extras: tuple[str, ...] = EXTRAS) -> dict[str, str]:
    """Every distribution iocgw[extras] needs, as installed in this virtualenv: {name: version}."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [("iocgw", frozenset(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        key = (canonicalize_name(name), wanted)
        if key in seen:
            continue
        seen.add(key)
        if canonicalize_name(name) == "iocgw":
            requires = own_requirements()  # pyproject.toml, not the (maybe older) installed metadata
        else:
            dist = importlib.metadata.distribution(name)
            found[dist.metadata["Name"]] = dist.version
            requires = dist.requires or []
        for text in requires:
            req = Requirement(text)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return found


def own_requirements() -> list[str]:
    """iocgw's requirements as pyproject.toml states them, each extra's marked as in installed metadata."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        reqs += [f'{item}; extra == "{extra}"' for item in items]
    return reqs


def write_lock(path: Path) -> None:
    pins = closure()
    lines = [
        "# The versions iocgw is tested with, for every extra (pip install -c constraints.txt '.[ROLE]').",
        "# Generated from the dev virtualenv by `.venv/bin/python scripts/check_profiles.py --lock`; do not edit.",
        *(f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda kv: kv[0].lower())),
    ]
    path.write_text("\n".join(lines) + "\n")
    log(f"wrote {path} ({len(pins)} pins)")


def read_lock(path: Path) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


# -- building and installing ---------------------------------------------------------------------------------------


def build_wheel(work: Path) -> Path:
    """One wheel of the working tree, built from a copy (nothing written into the repository)."""
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.db", "*.db-*")
    for package in PACKAGES:
        shutil.copytree(REPO / package, src / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)])
    (wheel,) = dist.glob("iocgw-*.whl")
    return wheel


def run(cmd: list[str], timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        raise CheckFailed(f"{' '.join(cmd[:6])} ... exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return proc


def install(role: str, wheel: Path, work: Path) -> tuple[Path, float]:
    """A fresh virtualenv (no pip of its own: this one's pip installs into it) with the role's extra."""
    venv = work / f"venv-{role}"
    t = time.monotonic()
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "-c", str(CONSTRAINTS), f"{wheel}[{role}]"])
    return venv, time.monotonic() - t


def site_packages(venv: Path) -> Path:
    (sp,) = venv.glob("lib/python3*/site-packages")
    return sp


def du_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.lstat(p).st_blocks * 512
    return round(total / 1e6, 1)


def installed(venv: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    return dict(json.loads(run([str(venv / "bin" / "python"), "-c", code]).stdout))


def check_install(role: str, venv: Path) -> list[str]:
    from packaging.utils import canonicalize_name

    problems = []
    dists = {canonicalize_name(n): v for n, v in installed(venv).items()}
    for name in sorted(FORBIDDEN_INSTALLED[role] & dists.keys()):
        problems.append(f"{name} is installed in the {role} profile")
    pins = read_lock(CONSTRAINTS)
    for name, version in sorted(dists.items()):
        if name == "iocgw":
            continue
        if name not in pins:
            problems.append(f"{name} {version} is not pinned in constraints.txt (regenerate it: --lock)")
        elif pins[name] != version:
            problems.append(f"{name} {version} installed, constraints.txt says {pins[name]}")
    for harness in ("testkit", "bench"):
        if (site_packages(venv) / harness).exists():
            problems.append(f"{harness}/ is in the wheel")
    return problems


# -- starting a role -----------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise CheckFailed(f"no VmRSS for {pid}")


def loaded_modules(stderr: str) -> list[str]:
    for line in stderr.splitlines():
        if line.startswith("PROFILE-LOADED "):
            return list(json.loads(line.removeprefix("PROFILE-LOADED ")))
    raise CheckFailed(f"the role did not report its modules:\n{stderr[-3000:]}")


def wait_for(what: str, ok: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if proc.poll() is not None:
            raise CheckFailed(f"{what}: the process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def run_role(venv: Path, args: list[str], work: Path, ready: Callable[[subprocess.Popen[str]], None]) -> dict[str, Any]:
    """Start ``iocgw ARGS`` from the role's virtualenv, wait until ``ready``, let it idle, measure, stop (SIGTERM)."""
    log_path = work / "role.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "python"), "-c", WRAPPER, *args],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=work,
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
            start_new_session=True,
        )
        try:
            ready(proc)
            time.sleep(2.0)  # idle: started, connected, nothing more to do
            rss = rss_mb(proc.pid)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        except BaseException:
            proc.kill()
            _, stderr = proc.communicate(timeout=10)
            print(log_path.read_text()[-3000:] + stderr[-3000:], file=sys.stderr)
            raise
    if proc.returncode != 0:
        raise CheckFailed(f"iocgw {' '.join(args)} exited {proc.returncode}:\n{log_path.read_text()[-3000:]}{stderr}")
    return {"rss_mb": rss, "loaded": loaded_modules(stderr)}


def check_edge(venv: Path, work: Path) -> dict[str, Any]:
    import paho.mqtt.client as mqtt
    import yaml

    from testkit.localsvc import Mosquitto

    iocgw = str(venv / "bin" / "iocgw")
    fw = REPO / "firmware_configs"
    # The examples and templates carry documentation addresses and names (placeholders): checked as templates.
    samples = sorted((fw / "examples").glob("*.yaml")) + sorted((fw / "templates").glob("*.yaml"))
    run([iocgw, "edge", "validate", "--template", *map(str, samples)], cwd=work)

    broker = Mosquitto(work / "mosquitto")
    broker.start()
    seen: dict[str, int] = {"status": 0, "telemetry": 0}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="profile-check")

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        channel = msg.topic.split("/")[3]
        seen[channel] = seen.get(channel, 0) + 1

    client.on_message = on_message
    try:
        client.connect("127.0.0.1", broker.port)
        client.subscribe("iocgw/v1/profile-edge/#", qos=1)
        client.loop_start()
        node = {
            "node_id": "profile-edge",
            "data_dir": str(work / "node-data"),
            "heartbeat_s": 3600,
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
            "sensors": [
                {
                    "id": "wl1",
                    "quantity": "water_level",
                    "interval_s": 0.5,
                    "driver": {"type": "simulated", "model": "constant", "params": {"value": 7.5}},
                }
            ],
        }
        config = work / "node.yaml"
        config.write_text(yaml.safe_dump(node))

        def ready(proc: subprocess.Popen[str]) -> None:
            wait_for("the node's status and a reading on the broker", lambda: all(seen.values()), proc)

        result = run_role(venv, ["edge", "run", "--config", str(config)], work, ready)
    finally:
        client.loop_stop()
        client.disconnect()
        broker.kill()
    return result | {"published": dict(seen)}


def check_camera(venv: Path, work: Path) -> dict[str, Any]:
    manifest = REPO / "models" / "fire_smoke_real" / "manifest.yaml"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CAMERA_PROBE, str(manifest)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    if proc.returncode != 0:
        raise CheckFailed(f"the camera probe exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}")
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("PROFILE-"))
    return {
        "rss_mb": round(int(lines["PROFILE-RSS"]) / 1024, 1),
        "inference": json.loads(lines["PROFILE-INFER"]),
        "loaded": loaded_modules(proc.stderr),
    }


def check_hub(venv: Path, work: Path) -> dict[str, Any]:
    import yaml

    from testkit.localsvc import InfluxDB, Mosquitto, free_port

    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    http_port = free_port()
    config = {
        "data_dir": str(work / "hub-data"),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "iocgw-profile-hub"},
        "influx": {"url": influx.url, "database": "iocgw"},
        "registry": {"accept_unknown_nodes": True},
        "http": {"host": "127.0.0.1", "port": http_port},
    }
    path = work / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    run([str(venv / "bin" / "iocgw"), "hub", "validate", str(path)], cwd=work)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def ready(proc: subprocess.Popen[str]) -> None:
        wait_for("the hub's /healthz", healthy, proc)

    try:
        broker.start()
        influx.start()
        return run_role(venv, ["hub", "run", "--config", str(path)], work, ready)
    finally:
        broker.kill()
        influx.kill()


CHECKS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "edge": check_edge,
    "camera": check_camera,
    "hub": check_hub,
}


# -- main --------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--roles", default=",".join(ROLES), help="comma-separated, from: " + ", ".join(ROLES))
    ap.add_argument("--keep", type=Path, help="work in this folder and leave it (default: a temp folder, removed)")
    ap.add_argument("--lock", action="store_true", help="rewrite constraints.txt from this virtualenv and stop")
    args = ap.parse_args(argv)
    if args.lock:
        write_lock(CONSTRAINTS)
        return 0
    roles = [r for r in args.roles.split(",") if r]
    if unknown := set(roles) - set(ROLES):
        ap.error(f"unknown roles: {', '.join(sorted(unknown))}")
    sys.path.insert(0, str(REPO))  # testkit, from the working tree (it is not installed)
    start = time.monotonic()
    work = args.keep or Path(tempfile.mkdtemp(prefix="iocgw-profiles-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    failed: dict[str, str] = {}
    try:
        wheel = build_wheel(work / "wheel")
        log(f"built {wheel.name} in {time.monotonic() - start:.0f} s")
        # Installing is mostly waiting on unzipping and disk: two at a time on two cores.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            installs = {role: pool.submit(install, role, wheel, work) for role in roles}
        for role in roles:
            row: dict[str, Any] = {}
            figures[role] = row
            try:
                venv, took = installs[role].result()
                row["install_s"] = round(took, 1)
                row["site_packages_mb"] = du_mb(site_packages(venv))
                problems = check_install(role, venv)
                if problems:
                    raise CheckFailed("; ".join(problems))
                (work / role).mkdir(exist_ok=True)
                t = time.monotonic()
                result = CHECKS[role](venv, work / role)
                row["start_check_s"] = round(time.monotonic() - t, 1)
                row["idle_rss_mb"] = result.pop("rss_mb")
                loaded = result.pop("loaded")
                bad = sorted(set(loaded) & FORBIDDEN_LOADED[role])
                row["third_party_loaded"] = loaded
                row.update(result)
                if bad:
                    raise CheckFailed(f"loaded what the {role} role must not: {', '.join(bad)}")
                log(
                    f"{role}: ok; site-packages {row['site_packages_mb']} MB, idle RSS {row['idle_rss_mb']} MB, "
                    f"installed in {row['install_s']} s, started and checked in {row['start_check_s']} s"
                )
            except CheckFailed as exc:
                failed[role] = str(exc)
                log(f"{role}: FAILED: {exc}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    total = round(time.monotonic() - start, 1)
    for role, row in figures.items():
        verdict = "FAILED" if role in failed else "ok"
        size, rss = row.get("site_packages_mb", "?"), row.get("idle_rss_mb", "?")
        print(f"{role:7s} {verdict:7s} site-packages {size:>7} MB   idle RSS {rss:>7} MB")
    print(json.dumps({"profiles": figures, "failed": failed, "seconds": total}, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
