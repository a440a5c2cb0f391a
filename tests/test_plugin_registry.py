"""plumbing.plugins.Registry on its own: plugins with and without settings, order, listing, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from plumbing.plugins import REGISTRIES, Registry, describe_all


class AConfig(BaseModel):
    type: Literal["a"] = "a"
    n: int = 1


class BConfig(BaseModel):
    type: Literal["b"] = "b"


@pytest.fixture
def registry() -> Iterator[Registry[Any]]:
    reg: Registry[Any] = Registry("test widget", docs="docs/plugins.md")
    yield reg
    del REGISTRIES["test widget"]


def test_plugins_register_with_or_without_settings_and_keep_their_order(registry: Registry[Any]) -> None:
    @registry.register("b", BConfig)
    class B:
        pass

    @registry.register("a", AConfig)
    class A:
        pass

    def c() -> str:
        return "built"

    registry.add("c", None, c)
    assert registry.names() == ["a", "b", "c"] == sorted(registry)
    assert registry.in_order() == ["b", "a", "c"]
    assert len(registry) == 3 and "a" in registry and "z" not in registry
    assert registry.plugin("a") is A and A.KEY == "a" and c.KEY == "c"  # type: ignore[attr-defined]
    assert registry.config("a") is AConfig and registry.has_config("a") and not registry.has_config("c")
    with pytest.raises(TypeError, match="test widget 'c' takes no settings"):
        registry.config("c")
    with pytest.raises(KeyError, match="no test widget 'z'; known: a, b, c"):
        registry.plugin("z")
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", AConfig, A)
    infos = registry.describe()
    assert [(i.key, i.config) for i in infos] == [("a", AConfig), ("b", BConfig), ("c", None)]
    assert infos[2].implementation.endswith("c") and infos[0].implementation.endswith(".A")
    # The union covers the plugins with settings only, and refuses others in a config file's words.
    union = TypeAdapter(registry.config_union())
    assert union.validate_python({"type": "a", "n": 2}) == AConfig(n=2)
    with pytest.raises(ValidationError, match="unknown test widget 'c'; the test widgets are: a, b"):
        union.validate_python({"type": "c"})


def test_a_kind_has_one_registry(registry: Registry[Any]) -> None:
    with pytest.raises(ValueError, match="exists already"):
        Registry("test widget")


def test_describe_all_imports_the_packages_named(registry: Registry[Any]) -> None:
    listing = describe_all(["edge.drivers"])
    assert listing["test widget"] == []
    assert {"modbus_tcp", "simulated"} <= set(listing["sensor driver"])  # simulated: by its entry point
