"""Local alarm thresholds on the node: hysteresis, and fast sampling while a threshold is crossed."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from edge.agent import Agent
from testkit.localsvc import free_port
from wire import NodeState
from wire.nodeconfig import LocalAlarm, NodeConfig


def test_crossing_with_hysteresis():
    alarm = LocalAlarm(above=9.5, clear_margin=0.2)
    assert not alarm.crossed(9.4, active=False)
    assert alarm.crossed(9.5, active=False)
    assert alarm.crossed(9.35, active=True)  # inside the margin: still on
    assert not alarm.crossed(9.29, active=True)
    low = LocalAlarm(below=2.0)
    assert low.crossed(1.9, active=False) and not low.crossed(2.1, active=False)


def test_bounds_are_checked():
    with pytest.raises(ValidationError, match="give above, below or both"):
        LocalAlarm()
    with pytest.raises(ValidationError, match="below must be lower"):
        LocalAlarm(above=1, below=2)


def _config(tmp_path, value: float) -> NodeConfig:
    return NodeConfig.model_validate(
        {
            "node_id": "alarm-node",
            "data_dir": str(tmp_path),
            "mqtt": {"port": free_port()},  # nobody there: readings stay in the outbox, where we count them
            "outbox": {"synchronous": "NORMAL"},
            "sensors": [
                {
                    "id": "wl",
                    "quantity": "water_level",
                    "interval_s": 2,
                    "alarm": {"above": 9.5, "fast_interval_s": 0.05, "label": "BĐ1"},
                    "driver": {"type": "simulated", "model": "constant", "params": {"value": value}},
                }
            ],
        }
    )


async def _run_until(agent: Agent, condition, limit_s: float) -> bool:
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    met = False
    while loop.time() < deadline:
        if condition():
            met = True
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 30)
    return met


def test_a_crossed_threshold_switches_to_fast_sampling(tmp_path):
    agent = Agent.open(_config(tmp_path, 10.0))
    status: list[dict] = []

    def enough() -> bool:
        # Without the alarm, a 2 s gauge gives at most 10 readings in the 20 s allowed; with it, one every 0.05 s.
        if agent.counters["readings"] < 30:
            return False
        status.append(json.loads(agent._status_payload(NodeState.ONLINE)))
        return True

    assert asyncio.run(_run_until(agent, enough, limit_s=20))
    assert agent.local_alarms == {"wl": True}
    assert status[0]["extra"]["alarm.wl"] == 1.0


def test_below_the_threshold_the_normal_interval_holds(tmp_path):
    agent = Agent.open(_config(tmp_path, 9.0))
    assert not asyncio.run(_run_until(agent, lambda: agent.counters["readings"] >= 3, limit_s=3))
    assert agent.local_alarms == {}
