"""Sensor driver settings, one class per driver ``type``, and the union a node file's ``driver:`` is checked against.

A new driver is two parts: its settings here (the hub validates node files, so it must know every shape) and its
implementation registered in the edge's driver registry (``edge.drivers``) or, for drivers outside the edge package,
announced under the ``iocgw.sensor_drivers`` entry point (as ``simulators`` does for ``simulated``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from plumbing.plugins import tagged_union
from wire.nodeconfig.drivers_base import DriverConfig
from wire.nodeconfig.simulated import SimulatedConfig

DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64"]
Order = Literal["big", "little"]

# struct code and register count of each data type.
REGISTER_LAYOUT: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
    "float64": ("d", 4),
}


class ModbusTcpConfig(DriverConfig):
    """Where the value lives on the logger and how to turn its registers into engineering units."""

    model_config = ConfigDict(allow_inf_nan=False)

    type: Literal["modbus_tcp"] = "modbus_tcp"
    host: str = Field(min_length=1, description="Logger (or Modbus gateway) IP address or host name")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port")
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (device/slave) id; matters behind gateways")
    address: int = Field(ge=0, le=65535, description="Zero-based address of the first register")
    register_type: Literal["holding", "input"] = Field(
        "holding", description="holding: function code 3; input: function code 4"
    )
    data_type: DataType = Field("uint16", description="How the register(s) encode the raw value")
    word_order: Order = Field(
        "big", description="32/64-bit values: big = most significant register first (Modbus convention)"
    )
    byte_order: Order = Field(
        "big", description="Byte order inside each 16-bit register: big is standard, little is byte-swapped"
    )
    scale: float = Field(1.0, description="value = raw * scale + offset")
    offset: float = Field(0.0, description="value = raw * scale + offset")
    timeout_s: float = Field(3.0, gt=0, le=60, description="Limit on each connect and each request")
    valid_min: float | None = Field(None, description="Values below this (after scaling) are marked suspect")
    valid_max: float | None = Field(None, description="Values above this (after scaling) are marked suspect")
    nodata: float | None = Field(
        None, description="Raw value the logger sends for 'no reading' (e.g. -9999 or 65535); read as bad"
    )

    @model_validator(mode="after")
    def _check(self) -> ModbusTcpConfig:
        if self.valid_min is not None and self.valid_max is not None and self.valid_min >= self.valid_max:
            raise ValueError(f"valid_min ({self.valid_min}) must be below valid_max ({self.valid_max})")
        code, words = REGISTER_LAYOUT[self.data_type]
        if self.address + words - 1 > 65535:
            raise ValueError(f"{self.data_type} at address {self.address} runs past register 65535")
        if self.nodata is not None and code not in "fd":
            # A nodata the data type cannot hold would never match, silently turning gaps into readings.
            bits = 16 * words
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if code.islower() else (0, 2**bits - 1)
            if self.nodata != int(self.nodata) or not low <= self.nodata <= high:
                raise ValueError(f"nodata {self.nodata} is not a possible {self.data_type} value")
        return self


DRIVER_CONFIGS: dict[str, type[DriverConfig]] = {"modbus_tcp": ModbusTcpConfig, "simulated": SimulatedConfig}
AnyDriverConfig = tagged_union("sensor driver", DRIVER_CONFIGS)

__all__ = [
    "DRIVER_CONFIGS",
    "AnyDriverConfig",
    "DataType",
    "DriverConfig",
    "ModbusTcpConfig",
    "Order",
    "SimulatedConfig",
]
