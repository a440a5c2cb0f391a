"""One registry mechanism for every kind of plugin (sensor drivers, backends, notifiers, ...), as Frigate does for
detectors.

A plugin is a class with a pydantic config class whose ``type`` literal names it; a registry maps that name to
both, and builds the discriminated union that config files are validated against. Plugins inside a package register
when their package is imported; plugins from another package (simulators' sensor driver, a third party's) are found
through the registry's entry point group, so the package that owns the registry never imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

P = TypeVar("P")

# Every registry ever made, by kind: what `iocgw plugins` lists and the convention test walks.
REGISTRIES: dict[str, Registry[Any]] = {}


class Registry(Generic[P]):
    """``kind`` names the plugins in messages ("sensor driver", "notifier"); ``group`` is the entry point group
    other packages announce plugins under ("iocgw.sensor_drivers"); ``docs`` where they are documented."""

    def __init__(self, kind: str, group: str | None = None, docs: str | None = None) -> None:
        if kind in REGISTRIES:
            raise ValueError(f"a registry of {kind}s exists already")
        self.kind = kind
        self.group = group
        self.docs = docs
        self._entries: dict[str, tuple[type[BaseModel], type[P]]] = {}
        self._discovered = False
        REGISTRIES[kind] = self

    def register(self, key: str, config_cls: type[BaseModel]) -> Callable[[type[P]], type[P]]:
        """Class decorator: ``@registry.register("modbus_tcp", ModbusTcpConfig)``; sets the class's ``KEY``."""

        def wrap(cls: type[P]) -> type[P]:
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} registered twice")
            cls.KEY = key  # type: ignore[attr-defined]
            self._entries[key] = (config_cls, cls)
            return cls

        return wrap

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

    def plugin(self, key: str) -> type[P]:
        if key not in self._entries:
            self.discover()
        try:
            return self._entries[key][1]
        except KeyError:
            raise KeyError(f"no {self.kind} {key!r}; known: {', '.join(self.names())}") from None

    def config(self, key: str) -> type[BaseModel]:
        self.plugin(key)
        return self._entries[key][0]

    def config_union(self) -> Any:
        """The discriminated union (on ``type``) of every registered config class."""
        return tagged_union(self.kind, {key: cfg for key, (cfg, _) in self._entries.items()})


def tagged_union(kind: str, configs: Mapping[str, type[BaseModel]]) -> Any:
    """The discriminated union (on ``type``) of ``configs``, refusing an unknown or missing ``type`` in the words of
    a config file ("unknown sensor driver 'modbus'; the sensor drivers are: ...") before pydantic's own ("Input tag
    ... does not match any of the expected tags") is reached."""
    classes = tuple(configs.values())
    if len(classes) == 1:
        return classes[0]
    union = Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007 - built at run time
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
