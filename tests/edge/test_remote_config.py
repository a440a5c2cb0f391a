"""Remote configuration on the node: every refusal reason, and what is remembered across restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from edge.remote import RemoteConfigStore, Verdict, judge
from wire import ConfigMessage
from wire.nodeconfig import NodeConfig


def _node(tmp_path, **extra) -> NodeConfig:
    return NodeConfig.model_validate({"node_id": "n1", "data_dir": str(tmp_path), **extra})


def _msg(config: dict, version: str = "v2", node_id: str = "n1") -> bytes:
    return (
        ConfigMessage(node_id=node_id, ts=datetime.now(UTC), version=version, config=config).model_dump_json().encode()
    )


def test_accepts_a_valid_config(tmp_path):
    current = _node(tmp_path)
    out = judge(_msg({"node_id": "n1", "data_dir": str(tmp_path), "heartbeat_s": 5}), current, None)
    assert out.verdict is Verdict.APPLY and out.version == "v2"
    assert out.config is not None and out.config.heartbeat_s == 5


def test_the_same_version_again_is_nothing_to_do(tmp_path):
    current = _node(tmp_path)
    out = judge(_msg({"node_id": "n1", "data_dir": str(tmp_path)}), current, "v2")
    assert out.verdict is Verdict.SAME


def test_refusals_name_the_reason(tmp_path):
    current = _node(tmp_path)
    cases = {
        b"{not json": "config message",
        _msg({"node_id": "n1"}, node_id="n2"): "addressed to 'n2'",
        _msg({"node_id": "n1", "data_dir": str(tmp_path), "heartbeat_s": -1}): "heartbeat_s",
        _msg({"node_id": "n1", "data_dir": str(tmp_path), "bogus": 1}): "bogus",
        _msg({"node_id": "n9", "data_dir": str(tmp_path)}): "node_id cannot be changed remotely",
        _msg({"node_id": "n1", "data_dir": str(tmp_path / "elsewhere")}): "data_dir cannot be changed remotely",
        _msg({"node_id": "n1", "data_dir": str(tmp_path), "outbox": {"path": "other.db"}}): "outbox.path",
    }
    for payload, reason in cases.items():
        out = judge(payload, current, None)
        assert out.verdict is Verdict.REFUSED, payload
        assert out.error is not None and reason in out.error, (reason, out.error)


def test_store_round_trip_and_foreign_files_ignored(tmp_path):
    local = _node(tmp_path)
    store = RemoteConfigStore(tmp_path)
    assert store.load(local) == (local, None)
    store.save("v7", _node(tmp_path, heartbeat_s=7))
    config, version = store.load(local)
    assert version == "v7" and config.heartbeat_s == 7
    # A file for another node (a copied data dir) or a damaged file is ignored: the local config wins.
    body = json.loads(store.path.read_text())
    body["config"]["node_id"] = "other"
    store.path.write_text(json.dumps(body))
    assert store.load(local) == (local, None)
    store.path.write_text("{damaged")
    assert store.load(local) == (local, None)
    assert store.clear() and not store.path.exists()
