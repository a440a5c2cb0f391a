"""A relay module on Modbus TCP: function code 5 (write single coil), the public siren on one coil, the test
output on another. One connection per command: a siren is driven a few times a year, and a session kept open for
months would only meet the module's idle cut-off at the worst moment."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.actuators.base import Actuator, ActuatorError, register_actuator
from wire.nodeconfig.actuators import ModbusCoilConfig

# pymodbus renamed `slave=` to `device_id=` in 3.9; pyproject allows both sides of that change.
_UNIT_KW = "device_id" if "device_id" in inspect.signature(AsyncModbusTcpClient.write_coil).parameters else "slave"


@register_actuator("modbus_coil", ModbusCoilConfig)
class ModbusCoilActuator(Actuator):
    config: ModbusCoilConfig

    async def siren(self, on: bool, seconds: float | None = None) -> None:
        await self._write(self.config.coil, on)

    async def test(self, on: bool, seconds: float | None = None) -> None:
        if self.config.test_coil is None:
            await super().test(on, seconds)
            return
        await self._write(self.config.test_coil, on)

    async def _write(self, coil: int, on: bool) -> None:
        c = self.config
        unit: dict[str, Any] = {_UNIT_KW: c.unit_id}
        where = f"modbus_coil {c.id} ({c.host}:{c.port} coil {coil})"
        client = AsyncModbusTcpClient(c.host, port=c.port, timeout=c.timeout_s * 2, retries=0, reconnect_delay=0)
        try:
            async with asyncio.timeout(c.timeout_s):
                if not await client.connect():
                    raise ActuatorError(f"{where}: cannot connect")
                response = await client.write_coil(coil, on, **unit)
        except TimeoutError:
            raise ActuatorError(f"{where}: no answer within {c.timeout_s} s") from None
        except (OSError, ModbusException) as exc:
            raise ActuatorError(f"{where}: {exc}") from None
        finally:
            client.close()
        if response.isError():
            raise ActuatorError(f"{where}: the module refused the write ({response})")
