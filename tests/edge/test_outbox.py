"""The durable outbox: order, bounds, sequence numbers across restarts, and a power cut."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from edge.outbox import Outbox
from wire.nodeconfig import WhenFull


def payload(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def test_messages_come_out_in_order_and_go_when_removed(tmp_path):
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    seqs = [box.enqueue("t", payload) for _ in range(10)]
    assert seqs == list(range(1, 11))
    assert [r.seq for r in box.after(0, 4)] == [1, 2, 3, 4]
    assert [r.seq for r in box.after(4, 100)] == list(range(5, 11))
    assert box.remove([1, 2, 99]) == 2
    assert box.remove_ranges([(3, 5)]) == 3
    assert box.depth == 5
    assert box.after(0, 1)[0].payload == b'{"seq":6}'


def test_sequence_numbers_only_grow_across_restarts_even_when_empty(tmp_path):
    box = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    box.enqueue_many([("t", payload)] * 5)
    box.remove_ranges([(1, 5)])
    status_seq = box.allocate_seq()
    box.close()
    again = Outbox(tmp_path / "o.db", synchronous="NORMAL")
    assert again.depth == 0
    assert again.enqueue("t", payload) == status_seq + 1


def test_drop_oldest_when_full_is_counted(tmp_path):
    box = Outbox(tmp_path / "o.db", max_messages=10, when_full=WhenFull.DROP_OLDEST, synchronous="NORMAL")
    box.enqueue_many([("t", payload)] * 15)
    assert box.depth == 10
    assert box.dropped == 5
    assert [r.seq for r in box.after(0, 100)] == list(range(6, 16))


def test_reject_new_when_full_is_counted(tmp_path):
    box = Outbox(tmp_path / "o.db", max_messages=10, when_full=WhenFull.REJECT_NEW, synchronous="NORMAL")
    seqs = box.enqueue_many([("t", payload)] * 15)
    assert seqs[10:] == [None] * 5
    assert box.rejected == 5
    assert [r.seq for r in box.after(0, 100)] == list(range(1, 11))


def test_sigkill_loses_nothing_that_was_written(tmp_path):
    """A child writes messages one transaction at a time, reports each, and is SIGKILLed mid-stream."""
    db = tmp_path / "o.db"
    child = textwrap.dedent(
        f"""
        import sys
        from edge.outbox import Outbox
        box = Outbox({str(db)!r}, synchronous="FULL")
        for i in range(100000):
            seq = box.enqueue("t", lambda s: b"x" * 100)
            print(seq, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 300:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    box = Outbox(db)
    stored = {r.seq for r in box.after(0, 1_000_000)}
    assert set(acknowledged) <= stored, "a message reported as written was lost"
    assert stored == set(range(1, len(stored) + 1)), "gap in the stored sequence"
