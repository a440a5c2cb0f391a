"""The plugin convention, as Telegraf has: every plugin of every registry is documented, has a sample config in its
docs that validates, and is named by a test; the contract's plugin settings and the registered plugins match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from iocgw.cli import PLUGIN_PACKAGES
from plumbing.plugins import REGISTRIES, Registry, describe_all

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# The packages whose import registers the built-ins, as `iocgw plugins` loads them; plugins of other packages
# (simulators' sensor driver) come in through entry points.
LISTING = describe_all(PLUGIN_PACKAGES)

# How a config file names a plugin of each kind: the field holding its key, and the field holding its settings
# (None: the settings sit beside the key, in the same mapping).
SAMPLE_SHAPE: dict[str, tuple[str, str | None]] = {
    "sensor driver": ("type", None),  # a sensor's driver: {type: modbus_tcp, host: ...}
    "inference backend": ("type", None),  # a camera's backend: {type: openvino, device: CPU}
    "decoder": ("decoder", "decoder_options"),  # a model manifest: decoder: yolo, decoder_options: {...}
    "notifier": ("type", None),  # a notify target: {type: webhook, url: ...}
    "feed kind": ("type", None),  # a feeds serve source: {name: ..., type: indicators, url: ...}
    "signal model": ("model", "params"),  # a simulated sensor: model: river_stage, params: {...}
    "fault": ("kind", None),  # a sensor's fault: {kind: spike, magnitude: 2}
    "actuator": ("type", None),  # a node's actuator: {id: siren1, type: modbus_coil, host: ...}
    "warning channel": ("type", None),  # a public-warning channel: {name: ..., type: telegram, token: ...}
}
# Kinds whose plugins take no settings, so there is no sample config to check, and why.
NO_CONFIG = {
    "dashboard": "a dashboard is fixed by its code; what differs between installations (data source, folder, "
    "contact point) is the whole bundle's BundleOptions, documented and tested in docs/grafana.md and test_export",
}


def test_every_pluggable_kind_has_a_registry_listed_in_docs_plugins_md() -> None:
    assert set(LISTING) == set(SAMPLE_SHAPE) | set(NO_CONFIG)
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    for kind, registry in REGISTRIES.items():
        assert registry.docs, f"the {kind} registry says nothing about where its plugins are documented"
        rows = [row for row in text.splitlines() if row.startswith(f"| {kind} |") and f"`{registry.docs}`" in row]
        assert rows, f"docs/plugins.md has no table row for the {kind} registry and its docs ({registry.docs})"
        listed = set(re.findall(r"`([^`]+)`", rows[0].split("|")[3]))
        assert listed == set(registry.names()), f"docs/plugins.md lists other {kind}s than are registered"
        assert LISTING[kind] == registry.names() and registry.names(), f"no {kind}s registered"


# -- the docs -------------------------------------------------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks (where ``#`` starts a comment, not a heading)."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def section(text: str, anchor: str) -> str:
    """The section under the heading whose anchor is ``anchor``, subsections included."""
    lines = text.splitlines()
    fenced, start, level = False, None, 0
    for n, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        heading = re.match(r"(#+) (.*)", line) if not fenced else None
        if heading is None:
            continue
        if start is not None and len(heading.group(1)) <= level:
            return "\n".join(lines[start:n])
        if start is None and slug(heading.group(2)) == anchor:
            start, level = n, len(heading.group(1))
    assert start is not None, f"no heading with anchor #{anchor}"
    return "\n".join(lines[start:])


def plugin_docs(registry: Registry[Any], key: str) -> tuple[str, str]:
    """(where the plugin is described: its section or its own file, the whole file the samples may be in)."""
    assert registry.docs is not None
    path, _, anchor = registry.docs.partition("#")
    target = ROOT / path
    if target.is_dir():
        target = target / f"{key}.md"
        assert target.exists(), f"{registry.kind} {key} has no page {target.relative_to(ROOT)}"
        whole = target.read_text(encoding="utf-8")
        return whole, whole
    whole = target.read_text(encoding="utf-8")
    return (section(whole, anchor) if anchor else whole), whole


def names_key(line: str, key: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", line) is not None


def yaml_documents(text: str) -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M)]


def mappings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from mappings(value)
    elif isinstance(node, list):
        for item in node:
            yield from mappings(item)


PLUGINS = [(kind, key) for kind in sorted(LISTING) for key in LISTING[kind]]
IDS = [f"{kind.replace(' ', '_')}:{key}" for kind, key in PLUGINS]


@pytest.mark.parametrize(("kind", "key"), PLUGINS, ids=IDS)
def test_plugin_is_documented_in_a_heading_or_table(kind: str, key: str) -> None:
    described, _ = plugin_docs(REGISTRIES[kind], key)
    lines = [line for line in prose_lines(described) if line.startswith(("#", "|"))]
    assert any(names_key(line, key) for line in lines), (
        f"{kind} {key} is named in no heading or table row of {REGISTRIES[kind].docs}"
    )


CONFIGURED = [(kind, key) for kind, key in PLUGINS if kind not in NO_CONFIG]
UNCONFIGURED = [(kind, key) for kind, key in PLUGINS if kind in NO_CONFIG]


@pytest.mark.parametrize(("kind", "key"), UNCONFIGURED, ids=[f"{k.replace(' ', '_')}:{n}" for k, n in UNCONFIGURED])
def test_a_plugin_without_settings_has_no_config_class(kind: str, key: str) -> None:
    """Kinds in NO_CONFIG take no settings of their own (the reason is in NO_CONFIG), so they need no sample."""
    assert not REGISTRIES[kind].has_config(key)


@pytest.mark.parametrize(("kind", "key"), CONFIGURED, ids=[f"{k.replace(' ', '_')}:{n}" for k, n in CONFIGURED])
def test_plugin_has_a_sample_config_in_its_docs_that_validates(kind: str, key: str) -> None:
    registry = REGISTRIES[kind]
    tag, settings = SAMPLE_SHAPE[kind]
    _, whole = plugin_docs(registry, key)
    samples = [m for doc in yaml_documents(whole) for m in mappings(doc) if m.get(tag) == key]
    assert samples, f"the docs of {kind} {key} ({registry.docs}) have no YAML sample with {tag}: {key}"
    config = registry.config(key)
    errors = []
    for sample in samples:
        try:
            config.model_validate(sample.get(settings) or {} if settings else sample)
        except ValidationError as exc:
            errors.append(str(exc))
    # A sample may carry more than the plugin's settings (a scenario's group fault picks nodes and sensors too),
    # so one valid sample is asked for, not all of them.
    assert len(errors) < len(samples), f"no sample of {kind} {key} validates:\n" + "\n".join(errors)


TEST_FILES = [p for p in (ROOT / "tests").rglob("test_*.py") if p != Path(__file__).resolve()]
TEST_TEXT = {p: p.read_text(encoding="utf-8") for p in TEST_FILES}


@pytest.mark.parametrize(("kind", "key"), PLUGINS, ids=IDS)
def test_plugin_is_named_by_a_test(kind: str, key: str) -> None:
    quoted = re.compile(rf"""["']{re.escape(key)}["']""")
    assert any(quoted.search(text) for text in TEST_TEXT.values()), f"no test names {kind} {key!r}"


# -- the contract ---------------------------------------------------------------------------------------------
def registered_configs(kind: str) -> dict[str, type]:
    registry = REGISTRIES[kind]
    return {key: registry.config(key) for key in registry.names()}


def test_every_driver_config_in_the_contract_has_exactly_one_driver_and_vice_versa() -> None:
    from wire.nodeconfig import DRIVER_CONFIGS

    registered = registered_configs("sensor driver")
    assert registered == DRIVER_CONFIGS
    assert len(set(registered.values())) == len(registered), "two drivers share a config class"


def test_every_backend_config_in_the_contract_has_exactly_one_backend_and_vice_versa() -> None:
    from wire.nodeconfig import BACKEND_CONFIGS

    registered = registered_configs("inference backend")
    assert registered == BACKEND_CONFIGS
    assert len(set(registered.values())) == len(registered), "two backends share a config class"


def test_every_signal_model_in_the_contract_has_its_model_and_vice_versa() -> None:
    from wire.nodeconfig.simulated import SIGNAL_MODEL_PARAMS

    # The four reservoir views share ReservoirParams, so names are matched with their classes.
    assert registered_configs("signal model") == SIGNAL_MODEL_PARAMS


def test_every_fault_kind_in_the_contract_has_its_effect_and_vice_versa() -> None:
    from wire.nodeconfig.simulated import FAULT_KINDS

    registered = registered_configs("fault")
    assert registered == FAULT_KINDS
    assert len(set(registered.values())) == len(registered), "two faults share a spec class"


# -- kind-specific samples: the whole config around the plugin ----------------------------------------------------
def test_driver_samples_are_whole_sensors_that_validate() -> None:
    from wire.nodeconfig import SensorConfig

    for key in LISTING["sensor driver"]:
        _, whole = plugin_docs(REGISTRIES["sensor driver"], key)
        sensors = [
            m
            for doc in yaml_documents(whole)
            for m in mappings(doc)
            if isinstance(m.get("driver"), dict) and m["driver"].get("type") == key
        ]
        assert sensors, f"the docs of driver {key} have no sample sensor using it"
        for sensor in sensors:
            SensorConfig.model_validate(sensor)


def test_the_notifications_docs_have_a_complete_notify_example_using_every_notifier() -> None:
    from hub.alerts.notify.config import NotifyConfig

    full = [
        d["notify"]
        for d in yaml_documents((DOCS / "notifications.md").read_text())
        if isinstance(d, dict) and "notify" in d
    ]
    assert full, "docs/notifications.md has no complete notify: example"
    config = NotifyConfig.model_validate(full[0])
    assert {t.type for t in config.targets} == set(LISTING["notifier"])


def test_describe_lists_each_plugin_with_its_config_and_implementation() -> None:
    for kind, registry in REGISTRIES.items():
        infos = registry.describe()
        assert [i.key for i in infos] == registry.names()
        for info in infos:
            assert info.kind == kind and "." in info.implementation
            assert (info.config is None) == (kind in NO_CONFIG)
