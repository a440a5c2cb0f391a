"""The Modbus TCP driver against a real pymodbus server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.drivers import DriverError, Sample, driver_class
from edge.drivers.modbus_tcp import ModbusTcpDriver
from wire import Quality
from wire.nodeconfig import SensorConfig

UNIT = 1
NOW = datetime(2025, 1, 1, tzinfo=UTC)

# Register words written out by hand so the test does not share the driver's encoder.
HOLDING = [
    0x4145, 0x70A4,  # 0-1: float32 12.34, big word order (ABCD)
    0x70A4, 0x4145,  # 2-3: float32 12.34, little word order (CDAB)
    0x4541, 0xA470,  # 4-5: float32 12.34, bytes swapped in each register (BADC)
    0xFF06,  # 6: int16 -250
    0xD8F1,  # 7: int16 -9999, a common "no reading" marker
    0xFFFF,  # 8: uint16 65535, the other common marker
    0x42C6, 0x0000,  # 9-10: float32 99.0, beyond a river gauge's valid range
    0x0001, 0x86A0,  # 11-12: uint32 100000, big word order
    0x1DC0, 0xFFFE,  # 13-14: int32 -123456, little word order
    0xC093, 0x4A45, 0x6D5C, 0xFAAD,  # 15-18: float64 -1234.5678
    0x7FC0, 0x0000,  # 19-20: float32 NaN
]  # fmt: skip
INPUT = [37, 0, 3]  # 0: uint16 rain-gauge tip count; 2: three tips


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_listening(port: int, deadline_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.01)
        else:
            writer.close()
            await writer.wait_closed()
            return


@asynccontextmanager
async def modbus_server(port: int | None = None) -> AsyncIterator[int]:
    port = port or free_port()
    bits = [SimData(0, values=False, datatype=DataType.BITS)]
    device = SimDevice(
        UNIT,
        simdata=(
            bits,
            bits,
            [SimData(0, values=list(HOLDING), datatype=DataType.REGISTERS)],
            [SimData(0, values=list(INPUT), datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    try:
        await wait_listening(port)
        yield port
    finally:
        await server.shutdown()


@asynccontextmanager
async def flaky_link(upstream: int, behaviours: list[str]) -> AsyncIterator[int]:
    """A TCP hop in front of the server: connection n does behaviours[n] ("hang_up" or "silent") on the
    first request; connections past the list forward to ``upstream``."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = behaviours.pop(0) if behaviours else "forward"
        if mode == "hang_up":
            await reader.read(260)
            writer.close()
        elif mode == "silent":
            while await reader.read(260):
                pass
            writer.close()
        else:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def sensor(port: int, quantity: str = "water_level", **driver: Any) -> SensorConfig:
    return SensorConfig.model_validate(
        {
            "id": "stage-1",
            "quantity": quantity,
            "driver": {"type": "modbus_tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1, **driver},
        }
    )


def make_driver(cfg: SensorConfig) -> ModbusTcpDriver:
    driver = driver_class("modbus_tcp")(cfg.driver, cfg)
    assert isinstance(driver, ModbusTcpDriver)
    return driver


async def read_once(port: int, **driver: Any) -> Sample:
    d = make_driver(sensor(port, **driver))
    await d.open()
    try:
        return await d.read(NOW)
    finally:
        await d.close()


def with_server(scenario: Callable[[int], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with modbus_server() as port:
            return await scenario(port)

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("driver", "value", "quality"),
    [
        ({"address": 0, "data_type": "float32"}, 12.34, Quality.GOOD),
        ({"address": 2, "data_type": "float32", "word_order": "little"}, 12.34, Quality.GOOD),
        ({"address": 4, "data_type": "float32", "byte_order": "little"}, 12.34, Quality.GOOD),
        ({"address": 0, "data_type": "float32", "offset": -10.0}, 2.34, Quality.GOOD),
        ({"address": 6, "data_type": "int16", "scale": 0.01}, -2.5, Quality.GOOD),
        ({"address": 6, "data_type": "uint16"}, 65286.0, Quality.GOOD),
        ({"address": 11, "data_type": "uint32"}, 100000.0, Quality.GOOD),
        ({"address": 13, "data_type": "int32", "word_order": "little"}, -123456.0, Quality.GOOD),
        ({"address": 15, "data_type": "float64"}, -1234.5678, Quality.GOOD),
        ({"address": 9, "data_type": "float32", "valid_min": -5, "valid_max": 30}, 99.0, Quality.SUSPECT),
        ({"address": 6, "data_type": "int16", "scale": 0.01, "valid_min": 0}, -2.5, Quality.SUSPECT),
        ({"address": 7, "data_type": "int16", "nodata": -9999}, None, Quality.BAD),
        ({"address": 8, "data_type": "uint16", "nodata": 65535}, None, Quality.BAD),
        ({"address": 19, "data_type": "float32"}, None, Quality.BAD),
    ],
)
def test_decodes_holding_registers(driver: dict[str, Any], value: float | None, quality: Quality) -> None:
    sample = with_server(lambda port: read_once(port, **driver))
    assert sample.quality is quality
    if value is None:
        assert sample.value is None
    else:
        assert sample.value == pytest.approx(value, rel=1e-9)


def test_float32_comes_back_as_the_logger_meant_it() -> None:
    sample = with_server(lambda port: read_once(port, address=0, data_type="float32"))
    assert sample.value == 12.34


def test_rain_count_from_input_register() -> None:
    sample = with_server(lambda port: read_once(port, quantity="rainfall", register_type="input", address=0, scale=0.2))
    assert sample == Sample(value=pytest.approx(7.4), quality=Quality.GOOD)


@pytest.mark.parametrize(
    ("driver", "value"),
    [
        ({"register_type": "input", "address": 2, "scale": 0.2}, 0.6),  # 3 tips of 0.2 mm, not 0.6000000000000001
        ({"register_type": "input", "address": 2, "scale": 0.1}, 0.3),  # not 0.30000000000000004
        ({"register_type": "input", "address": 2, "scale": 0.1, "offset": 0.05}, 0.35),
        ({"address": 0, "data_type": "float32", "scale": 0.1}, 1.234),  # 12.34 as the logger meant it, scaled
        ({"address": 0, "data_type": "float32", "offset": -10.0}, 2.34),
    ],
)
def test_scaled_value_keeps_the_loggers_resolution(driver: dict[str, Any], value: float) -> None:
    sample = with_server(lambda port: read_once(port, quantity="rainfall", **driver))
    assert sample.value == value and repr(sample.value) == repr(value)  # exactly, as InfluxDB will store it


def test_address_outside_datastore_names_where_and_why() -> None:
    with pytest.raises(DriverError) as err:
        with_server(lambda port: read_once(port, address=1000))
    msg = str(err.value)
    assert "127.0.0.1:" in msg
    assert "unit 1" in msg
    assert "register 1000" in msg
    assert "illegal data address" in msg


def test_value_running_off_the_end_of_the_datastore_fails() -> None:
    with pytest.raises(DriverError, match="illegal data address"):
        with_server(lambda port: read_once(port, address=len(HOLDING) - 1, data_type="float32"))


def test_connecting_to_a_closed_port_fails() -> None:
    port = free_port()
    with pytest.raises(DriverError, match=rf"127\.0\.0\.1:{port}.*cannot connect"):
        asyncio.run(read_once(port, address=0))


def test_read_reconnects_after_the_logger_restarts() -> None:
    async def main() -> list[Sample]:
        port = free_port()
        d = make_driver(sensor(port, address=0, data_type="float32"))
        try:
            async with modbus_server(port):
                await d.open()
                first = await d.read(NOW)
            async with modbus_server(port):
                second = await d.read(NOW)
            return [first, second]
        finally:
            await d.close()

    first, second = asyncio.run(main())
    assert first.value == second.value == 12.34


def test_read_reconnects_once_when_the_session_drops_mid_request() -> None:
    async def scenario(port: int) -> Sample:
        async with flaky_link(port, ["hang_up"]) as link:
            d = make_driver(sensor(link, address=0, data_type="float32", timeout_s=0.3))
            await d.open()
            try:
                return await d.read(NOW)
            finally:
                await d.close()

    assert with_server(scenario).value == 12.34


def test_silent_logger_times_out_then_next_read_starts_afresh() -> None:
    async def scenario(port: int) -> tuple[str, Sample]:
        async with flaky_link(port, ["silent"]) as link:
            d = make_driver(sensor(link, address=0, data_type="float32", timeout_s=0.3))
            await d.open()
            try:
                with pytest.raises(DriverError) as err:
                    await d.read(NOW)
                return str(err.value), await d.read(NOW)
            finally:
                await d.close()

    message, sample = with_server(scenario)
    assert "no response within 0.3 s" in message
    assert "register 0" in message
    assert sample.value == 12.34


def test_read_without_open_connects_first() -> None:
    async def scenario(port: int) -> Sample:
        d = make_driver(sensor(port, address=6, data_type="int16"))
        try:
            return await d.read(NOW)
        finally:
            await d.close()

    assert with_server(scenario).value == -250


@pytest.mark.parametrize(
    "driver",
    [
        {"address": 0, "colour": "blue"},
        {"address": 0, "data_type": "float16"},
        {"address": 0, "register_type": "coil"},
        {"address": -1},
        {},
        {"address": 0, "valid_min": 10, "valid_max": 10},
        {"address": 0, "data_type": "uint16", "nodata": -9999},
        {"address": 65535, "data_type": "float32"},
    ],
)
def test_bad_config_is_rejected(driver: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        sensor(502, **driver)


def test_config_defaults() -> None:
    cfg = sensor(502, address=3).driver
    assert (cfg.port, cfg.unit_id, cfg.register_type, cfg.data_type) == (502, 1, "holding", "uint16")
    assert (cfg.scale, cfg.offset, cfg.word_order, cfg.byte_order) == (1.0, 0.0, "big", "big")
