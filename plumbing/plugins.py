"""One registry mechanism for every kind of plugin (sensor drivers, backends, notifiers, ...), as Frigate does for
detectors.

A plugin is an implementation (a class, or a function where that is all it is) registered under a key, with the
pydantic config class that a config file names it by (its ``type`` literal, most often); a registry maps the key to
both, and builds the discriminated union that config files are validated against. Plugins that take no settings
register without a config class. Plugins inside a package register when their package is imported; plugins from
another package (simulators' sensor driver, a third party's) are found through the registry's entry point group, so
the package that owns the registry never imports them. docs/plugins.md lists the registries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

P = TypeVar("P")
T = TypeVar("T")

# Every registry ever made, by kind: what `iocgw plugins` lists and the convention test walks.
REGISTRIES: dict[str, Registry[Any]] = {}


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin, for listings: its key, its config class (None: it takes no settings) and where its
    implementation lives (``module.qualname``)."""

    kind: str
    key: str
    config: type[BaseModel] | None
    implementation: str


class Registry(Generic[P]):
    """``kind`` names the plugins in messages ("sensor driver", "notifier"); ``group`` is the entry point group
    other packages announce plugins under ("iocgw.sensor_drivers"); ``docs`` where they are documented (a file,
    a file's section as ``file#heading-anchor``, or a folder with one file per plugin)."""

    def __init__(self, kind: str, group: str | None = None, docs: str | None = None) -> None:
        if kind in REGISTRIES:
            raise ValueError(f"a registry of {kind}s exists already")
        self.kind = kind
        self.group = group
        self.docs = docs
        self._entries: dict[str, tuple[type[BaseModel] | None, type[P]]] = {}
        self._discovered = False
        REGISTRIES[kind] = self

    def register(self, key: str, config_cls: type[BaseModel] | None = None) -> Callable[[T], T]:
        """Decorator: ``@registry.register("modbus_tcp", ModbusTcpConfig)``; sets the implementation's ``KEY``."""

        def wrap(impl: T) -> T:
            self.add(key, config_cls, impl)
            return impl

        return wrap

    def add(self, key: str, config_cls: type[BaseModel] | None, impl: Any) -> None:
        """Register ``impl`` under ``key`` (the decorator's work, for an implementation made elsewhere)."""
        if key in self._entries:
            raise ValueError(f"{self.kind} {key!r} registered twice")
        impl.KEY = key
        self._entries[key] = (config_cls, impl)

    def discover(self) -> None:
        """Import every plugin announced under this registry's entry point group (once)."""
        if self._discovered or self.group is None:
            return
        self._discovered = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._entries:
                ep.load()  # the module registers its plugin on import

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def in_order(self) -> list[str]:
        """The keys in the order they were registered (where order means something: faults apply in it)."""
        self.discover()
        return list(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, key: object) -> bool:
        if key not in self._entries:
            self.discover()
        return key in self._entries

    def plugin(self, key: str) -> type[P]:
        if key not in self._entries:
            self.discover()
        try:
            return self._entries[key][1]
        except KeyError:
            raise KeyError(f"no {self.kind} {key!r}; known: {', '.join(self.names())}") from None

    def config(self, key: str) -> type[BaseModel]:
        """The plugin's config class; KeyError for an unknown key, TypeError for a plugin that takes no settings."""
        self.plugin(key)
        cfg = self._entries[key][0]
        if cfg is None:
            raise TypeError(f"{self.kind} {key!r} takes no settings")
        return cfg

    def has_config(self, key: str) -> bool:
        self.plugin(key)
        return self._entries[key][0] is not None

    def config_union(self) -> Any:
        """The discriminated union (on ``type``) of every registered config class."""
        configs = {key: cfg for key, (cfg, _) in self._entries.items() if cfg is not None}
        return tagged_union(self.kind, configs)

    def describe(self) -> list[PluginInfo]:
        """Every plugin, sorted by key, for listings."""
        out = []
        for key in self.names():
            cfg, impl = self._entries[key]
            name = getattr(impl, "__qualname__", getattr(impl, "__name__", "?"))
            where = f"{getattr(impl, '__module__', '?')}.{name}"
            out.append(PluginInfo(self.kind, key, cfg, where))
        return out


def describe_all(packages: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every registry's kind -> its plugins' keys, after importing ``packages`` (module names such as
    ``"edge.drivers"``: importing a package registers its built-ins). plumbing imports nothing above itself, so the
    caller (the CLI) says which packages to load; plugins from elsewhere come in through entry points."""
    for name in packages:
        importlib.import_module(name)
    return {kind: registry.names() for kind, registry in sorted(REGISTRIES.items())}


def tagged_union(kind: str, configs: Mapping[str, type[BaseModel]]) -> Any:
    """The discriminated union (on ``type``) of ``configs``, refusing an unknown or missing ``type`` in the words of
    a config file ("unknown sensor driver 'modbus'; the sensor drivers are: ...") before pydantic's own ("Input tag
    ... does not match any of the expected tags") is reached."""
    classes = tuple(configs.values())
    if len(classes) == 1:
        return classes[0]
    union = Annotated[Union[classes], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007 - built at run time
    return Annotated[union, BeforeValidator(_known_type(kind, sorted(configs)))]


def _known_type(kind: str, names: list[str]) -> Callable[[Any], Any]:
    known = ", ".join(names)

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            given = value.get("type")
            if given is None:
                raise PydanticCustomError(
                    "missing_plugin_type", "type is missing; the {kind}s are: {known}", {"kind": kind, "known": known}
                )
            if given not in names:
                raise PydanticCustomError(
                    "unknown_plugin_type",
                    "unknown {kind} '{type}'; the {kind}s are: {known}",
                    {"kind": kind, "type": str(given), "known": known},
                )
        return value

    return check
