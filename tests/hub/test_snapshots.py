"""Camera snapshots: a valid JPEG is kept as the latest of its (node, camera, label); anything else is dead-lettered."""

from __future__ import annotations

import struct

from hub.ingest.processor import Batch, Processor
from hub.store.state import HubState, NodeInfo
from wire import Topics

TOPICS = Topics("iocgw")
NODES = {"cam-1": NodeInfo("cam-1", admin_code="42")}


def tiny_jpeg(grey: int = 0) -> bytes:
    """A 1x1 greyscale baseline JPEG (141 bytes) built by hand: one 8x8 block whose DC term is ``grey`` (0-11 bits).

    Each Huffman table has a single 1-bit code (DC: category of the difference; AC: end of block), so the scan is
    the DC category code, the difference's bits, then EOB, padded with ones.
    """

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    category = grey.bit_length()
    dqt = segment(0xDB, b"\x00" + b"\x01" * 64)
    sof = segment(0xC0, struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00")
    counts = b"\x01" + b"\x00" * 15
    dht = segment(0xC4, b"\x00" + counts + bytes([category])) + segment(0xC4, b"\x10" + counts + b"\x00")
    sos = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    bits = "0" + (format(grey, "b") if category else "") + "0"
    bits += "1" * (-len(bits) % 8)
    scan = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    return b"\xff\xd8" + dqt + sof + dht + sos + scan + b"\xff\xd9"


def handle(topic: str, payload: bytes, processor: Processor | None = None, batch: Batch | None = None) -> Batch:
    batch = batch if batch is not None else Batch()
    (processor or Processor(TOPICS, NODES)).handle(topic, payload, batch)
    return batch


def test_valid_jpeg_goes_into_the_batch_and_the_latest_wins():
    p = Processor(TOPICS, NODES)
    batch = handle("iocgw/v1/cam-1/snapshot/tower-1/smoke", tiny_jpeg(1), p)
    handle("iocgw/v1/cam-1/snapshot/tower-1/fire", tiny_jpeg(2), p, batch)
    handle("iocgw/v1/cam-1/snapshot/tower-1/smoke", tiny_jpeg(3), p, batch)
    assert not batch.dead_letters and not batch.lines
    assert {k: v[1] for k, v in batch.snapshots.items()} == {
        ("cam-1", "tower-1", "smoke"): tiny_jpeg(3),
        ("cam-1", "tower-1", "fire"): tiny_jpeg(2),
    }
    # Raw JPEG has no sequence number: nothing to deduplicate or to ack to the node, nor a sign of life.
    assert batch.messages == 3 and batch.node_seqs == {} and batch.duplicates == 0 and batch.seen == {}


def test_bad_snapshots_are_dead_lettered_with_the_reason():
    jpeg = tiny_jpeg()
    cases = {
        ("iocgw/v1/cam-1/snapshot/tower-1/smoke", b"GIF89a not a jpeg"): "not a jpeg",
        ("iocgw/v1/cam-1/snapshot/tower-1/smoke", jpeg[:-2]): "not a jpeg",  # truncated: no end marker
        ("iocgw/v1/cam-1/snapshot/tower-1/smoke", b""): "not a jpeg",
        ("iocgw/v1/cam-1/snapshot/tower-1", jpeg): "exactly <camera>/<label>",
        ("iocgw/v1/cam-1/snapshot/tower-1/smoke/extra", jpeg): "exactly <camera>/<label>",
        ("iocgw/v1/cam-1/snapshot", jpeg): "exactly <camera>/<label>",
        ("iocgw/v1/cam-1/snapshot/Tower 1/smoke", jpeg): "camera 'Tower 1' is not a valid identifier",
        ("iocgw/v1/cam-1/snapshot/tower-1/", jpeg): "label '' is not a valid identifier",
        ("iocgw/v1/ghost/snapshot/tower-1/smoke", jpeg): "unknown node 'ghost'",
    }
    for (topic, payload), reason in cases.items():
        batch = handle(topic, payload)
        assert not batch.snapshots, topic
        assert [d.topic for d in batch.dead_letters] == [topic]
        assert reason in batch.dead_letters[0].reason.lower() or reason in batch.dead_letters[0].reason, (
            topic,
            batch.dead_letters[0].reason,
        )
    big = Processor(TOPICS, NODES, max_payload_bytes=100)
    assert "exceeds" in handle("iocgw/v1/cam-1/snapshot/tower-1/smoke", jpeg, big).dead_letters[0].reason


def test_unknown_node_accepted_when_configured_but_its_id_must_be_valid():
    p = Processor(TOPICS, NODES, accept_unknown_nodes=True)
    assert ("ghost", "tower-1", "smoke") in handle("iocgw/v1/ghost/snapshot/tower-1/smoke", tiny_jpeg(), p).snapshots
    batch = handle("iocgw/v1/Ghost!/snapshot/tower-1/smoke", tiny_jpeg(), p)
    assert "node id 'Ghost!' is not a valid identifier" in batch.dead_letters[0].reason


def test_state_keeps_the_latest_per_camera_and_label(tmp_path):
    state = HubState(tmp_path / "hub.db")
    try:

        def persist(snapshots: dict[tuple[str, str, str], tuple[float, bytes]]) -> None:
            state.persist(dead_letters=[], seen={}, statuses={}, sensor_values={}, dedupe={}, snapshots=snapshots)

        assert state.snapshot("cam-1", "tower-1", "smoke") is None
        persist({("cam-1", "tower-1", "smoke"): (100.0, tiny_jpeg(1)), ("cam-1", "tower-2", "fire"): (101.0, b"\xff")})
        persist({("cam-1", "tower-1", "smoke"): (200.0, tiny_jpeg(2))})
        assert state.snapshot("cam-1", "tower-1", "smoke") == (200.0, tiny_jpeg(2))
        # A retained snapshot comes again on every resubscribe: the same bytes keep their first time.
        persist({("cam-1", "tower-1", "smoke"): (300.0, tiny_jpeg(2))})
        assert state.snapshot("cam-1", "tower-1", "smoke") == (200.0, tiny_jpeg(2))
        assert state.snapshots_of("cam-1") == [
            {"camera": "tower-1", "label": "smoke", "received": 200.0, "size": len(tiny_jpeg(2))},
            {"camera": "tower-2", "label": "fire", "received": 101.0, "size": 1},
        ]
        assert state.snapshots_of("cam-2") == []
        state.persist(dead_letters=[], seen={}, statuses={}, sensor_values={}, dedupe={})  # snapshots optional
    finally:
        state.close()
