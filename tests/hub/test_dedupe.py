from hypothesis import given
from hypothesis import strategies as st

from hub.ingest.dedupe import SeqTracker, to_ranges


def test_in_order_stream_keeps_no_list():
    t = SeqTracker()
    assert all(t.add(s) for s in range(1, 1001))
    assert t.state() == (1000, [])
    assert not t.add(500)


def test_gap_then_fill():
    t = SeqTracker()
    for s in (1, 2, 5, 6, 4):
        assert t.add(s)
    assert t.state() == (2, [4, 5, 6])
    assert t.add(3)
    assert t.state() == (6, [])


def test_forgetting_never_drops_an_unseen_number():
    t = SeqTracker(max_recent=4)
    for s in range(2, 20, 2):  # every other number, as with two hubs sharing a subscription
        t.add(s)
    assert len(t.recent) == 4
    for s in range(1, 20, 2):
        assert t.add(s), f"{s} was never seen but was called a duplicate"


@given(st.lists(st.integers(min_value=1, max_value=300)))
def test_duplicate_only_if_seen(seqs):
    t = SeqTracker(max_recent=32)
    seen = set()
    for s in seqs:
        fresh = t.add(s)
        if s not in seen:
            assert fresh
        seen.add(s)


@given(st.lists(st.integers(min_value=1, max_value=1000)))
def test_ranges_cover_exactly(seqs):
    covered = {s for lo, hi in to_ranges(seqs) for s in range(lo, hi + 1)}
    assert covered == set(seqs)
