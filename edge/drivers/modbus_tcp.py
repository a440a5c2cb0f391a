"""Modbus TCP driver: one register value from a river-stage or rain-gauge data logger."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import struct
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.drivers.base import DriverError, Sample, SensorDriver
from edge.drivers.registry import register_driver
from wire import Quality
from wire.nodeconfig.drivers import REGISTER_LAYOUT as _LAYOUT
from wire.nodeconfig.drivers import ModbusTcpConfig

if TYPE_CHECKING:
    from wire.nodeconfig import SensorConfig


_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

# pymodbus renamed `slave=` to `device_id=` in 3.9; pyproject allows both sides of that change.
_UNIT_KW = (
    "device_id" if "device_id" in inspect.signature(AsyncModbusTcpClient.read_holding_registers).parameters else "slave"
)


def decode_registers(registers: list[int], data_type: str, word_order: str, byte_order: str) -> float:
    """Raw value of ``registers`` as read off the wire, in the given type and orders."""
    code, _ = _LAYOUT[data_type]
    words = list(reversed(registers)) if word_order == "little" else registers
    # Packing each register little-endian swaps its two bytes back for byte-swapped loggers.
    raw = b"".join(struct.pack(">H" if byte_order == "big" else "<H", w) for w in words)
    value = struct.unpack(">" + code, raw)[0]
    return _shortest_float32(value) if code == "f" else value


def _shortest_float32(x: float) -> float:
    # Widening float32 to float64 invents digits (12.34 -> 12.340000152587891); keep what the logger meant.
    if not math.isfinite(x):
        return x
    for digits in range(1, 10):
        candidate = float(f"{x:.{digits}g}")
        with contextlib.suppress(OverflowError):
            if struct.pack(">f", candidate) == struct.pack(">f", x):
                return candidate
    return x


def decimals(x: float) -> int:
    """Decimal places of ``x`` as written: 0.2 -> 1, 0.01 -> 2, 12.34 -> 2, 5.0 -> 0, 1e-05 -> 5."""
    exponent = Decimal(repr(x)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def scaled(raw: float, scale: float, offset: float) -> float:
    """``raw * scale + offset`` to the logger's resolution: one count of a 0.2 mm tipping bucket times 3 is 0.6 mm,
    not the 0.6000000000000001 binary floating point makes of it (and InfluxDB would keep)."""
    # The exact decimal product has at most the decimals of both factors; the offset adds none beyond its own.
    places = max(decimals(raw) + decimals(scale), decimals(offset))
    return round(raw * scale + offset, places)


@register_driver("modbus_tcp", ModbusTcpConfig)
class ModbusTcpDriver(SensorDriver):
    config: ModbusTcpConfig

    def __init__(self, config: ModbusTcpConfig, sensor: SensorConfig) -> None:
        super().__init__(config, sensor)
        self._client: AsyncModbusTcpClient | None = None
        # The unit id keyword under the name this pymodbus uses (typed Any: each version's stubs name only one).
        self._unit: dict[str, Any] = {_UNIT_KW: config.unit_id}

    def _where(self) -> str:
        c = self.config
        return f"modbus_tcp {c.host}:{c.port} unit {c.unit_id} {c.register_type} register {c.address}"

    async def open(self) -> None:
        await self._connect()

    async def _connect(self) -> None:
        self._drop()
        c = self.config
        client = AsyncModbusTcpClient(
            c.host,
            port=c.port,
            # Our asyncio timeout is the one that fires, so every timeout takes the same path below.
            timeout=c.timeout_s * 2,
            # The agent owns retrying; pymodbus retries and background reconnects would stretch a tick.
            retries=0,
            reconnect_delay=0,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(c.timeout_s):
                connected = await client.connect()
        except (TimeoutError, OSError, ModbusException):
            connected = False
        if not connected:
            client.close()
            # pymodbus only says "no"; a quick "no" is the peer or the network refusing, a slow one silence.
            if loop.time() - started >= c.timeout_s * 0.9:
                reason = f"no answer within {c.timeout_s} s"
            else:
                reason = "connection refused, host unreachable or name unknown"
            raise DriverError(f"modbus_tcp {c.host}:{c.port}: cannot connect: {reason}")
        self._client = client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _request(self) -> list[int]:
        c = self.config
        client = self._client
        assert client is not None
        _, count = _LAYOUT[c.data_type]
        call = client.read_holding_registers if c.register_type == "holding" else client.read_input_registers
        try:
            async with asyncio.timeout(c.timeout_s):
                response = await call(c.address, count=count, **self._unit)
        except TimeoutError:
            if client.connected:
                # Silence on a live-looking socket is usually a half-open link (NAT or logger reboot): start
                # afresh on the next read rather than spend a second timeout on it now.
                self._drop()
            raise DriverError(f"{self._where()}: no response within {c.timeout_s} s") from None
        except (ModbusException, OSError) as exc:
            raise DriverError(f"{self._where()}: {exc}") from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            name = _EXCEPTION_NAMES.get(code, "unknown exception") if code is not None else "error response"
            raise DriverError(f"{self._where()}: Modbus exception {code} ({name})")
        registers = list(response.registers)
        if len(registers) < count:
            raise DriverError(f"{self._where()}: got {len(registers)} registers, expected {count}")
        return registers[:count]

    async def read(self, now: datetime) -> Sample:
        fresh = self._client is None or not self._client.connected
        if fresh:
            await self._connect()
        try:
            registers = await self._request()
        except DriverError:
            # The logger closed the session under us (restart, idle cut-off): one new connection usually
            # recovers without losing the tick, at the cost of a second timeout at worst. Errors on a
            # session still up are the logger's answer, so they are not retried.
            if fresh or self._client is None or self._client.connected:
                raise
            await self._connect()
            registers = await self._request()
        return self._to_sample(registers)

    def _to_sample(self, registers: list[int]) -> Sample:
        c = self.config
        raw = decode_registers(registers, c.data_type, c.word_order, c.byte_order)
        # NaN/inf cannot go on the wire (Reading requires finite values), so they count as no reading.
        if (c.nodata is not None and raw == c.nodata) or not math.isfinite(raw):
            return Sample(value=None, quality=Quality.BAD)
        value = scaled(raw, c.scale, c.offset)
        out_of_range = (c.valid_min is not None and value < c.valid_min) or (
            c.valid_max is not None and value > c.valid_max
        )
        return Sample(value=value, quality=Quality.SUSPECT if out_of_range else Quality.GOOD)

    async def close(self) -> None:
        self._drop()
