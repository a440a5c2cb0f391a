"""One registry mechanism for every kind of plugin (sensor drivers, notifiers, ...), as Frigate does for detectors.

A plugin is a class with a pydantic config class whose ``type`` literal names it; a registry maps that name to
both, and builds the discriminated union that config files are validated against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

P = TypeVar("P")


class Registry(Generic[P]):
    """``kind`` names the plugins in messages ("sensor driver", "notifier")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[type[BaseModel], type[P]]] = {}

    def register(self, key: str, config_cls: type[BaseModel]) -> Callable[[type[P]], type[P]]:
        """Class decorator: ``@registry.register("modbus_tcp", ModbusTcpConfig)``; sets the class's ``KEY``."""

        def wrap(cls: type[P]) -> type[P]:
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} registered twice")
            cls.KEY = key  # type: ignore[attr-defined]
            self._entries[key] = (config_cls, cls)
            return cls

        return wrap

    def names(self) -> list[str]:
        return sorted(self._entries)

    def plugin(self, key: str) -> type[P]:
        try:
            return self._entries[key][1]
        except KeyError:
            raise KeyError(f"no {self.kind} {key!r}; known: {', '.join(self.names())}") from None

    def config_union(self) -> Any:
        """The discriminated union (on ``type``) of every registered config class."""
        configs = tuple(cfg for cfg, _ in self._entries.values())
        if len(configs) == 1:
            return configs[0]
        union = Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007 - built at run time
        return Annotated[union, BeforeValidator(self._known_type(self.names()))]

    def _known_type(self, names: list[str]) -> Callable[[Any], Any]:
        """A refusal that names the known plugins, in the words of a config file, before pydantic's own
        ("Input tag ... does not match any of the expected tags") is reached."""
        known = ", ".join(names)

        def check(value: Any) -> Any:
            if isinstance(value, dict):
                kind = value.get("type")
                if kind is None:
                    raise PydanticCustomError(
                        "missing_plugin_type",
                        "type is missing; the {kind}s are: {known}",
                        {"kind": self.kind, "known": known},
                    )
                if kind not in names:
                    raise PydanticCustomError(
                        "unknown_plugin_type",
                        "unknown {kind} '{type}'; the {kind}s are: {known}",
                        {"kind": self.kind, "type": str(kind), "known": known},
                    )
            return value

        return check
