"""A batch carries the dedupe state as of its own last message, never that of later messages."""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt

from hub.config import HubConfig
from hub.ingest.pipeline import IngestPipeline
from hub.metrics import Metrics
from hub.store.state import HubState


def message(seq: int, mid: int) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid=mid, topic=b"iocgw/v1/n1/telemetry")
    msg.qos = 1
    msg.payload = json.dumps(
        {
            "v": 1,
            "node_id": "n1",
            "seq": seq,
            "ts": "2026-11-22T00:00:00Z",
            "readings": [{"sensor_id": "wl", "quantity": "water_level", "value": 1.0, "unit": "m"}],
        }
    ).encode()
    return msg


def test_snapshot_taken_when_the_batch_is_cut(tmp_path):
    config = HubConfig.model_validate({"data_dir": str(tmp_path), "registry": {"accept_unknown_nodes": True}})
    pipeline = IngestPipeline(config, HubState(tmp_path / "hub.db"), Metrics())
    pipeline._on_message(pipeline.client, None, message(1, 1))
    first = pipeline._take_now()
    pipeline._on_message(pipeline.client, None, message(2, 2))  # arrives while the first batch is being written
    second = pipeline._take_now()
    assert first is not None and second is not None
    assert first.dedupe_snapshot == {"n1": (1, [])}, "state of a later, not yet durable message leaked in"
    assert second.dedupe_snapshot == {"n1": (2, [])}
    assert first.mids == [(0, 1)] and second.mids == [(0, 2)]


def test_a_full_batch_also_carries_its_snapshot(tmp_path):
    config = HubConfig.model_validate(
        {"data_dir": str(tmp_path), "registry": {"accept_unknown_nodes": True}, "batch": {"max_lines": 1}}
    )
    pipeline = IngestPipeline(config, HubState(tmp_path / "hub.db"), Metrics())
    pipeline._on_message(pipeline.client, None, message(1, 1))  # fills the batch: handed to the writer's queue
    full = pipeline._queue.get_nowait()
    assert full.dedupe_snapshot == {"n1": (1, [])}
