"""One hub's alert leadership alone in a process, driven by tests/hub/alerts/test_leader.py.

    python -m tests.hub.alerts.leader_proc DSN HUB_ID

Writes one line per event to stdout: ``started``; ``gained <epoch> <monotonic s>``; ``lost <epoch> <monotonic s>
<reason>``; ``state <1|0> <epoch|->`` (the answer to ``state``); ``stopped``. Reads commands from stdin: ``state``,
``stop`` (a clean stop; end of input does the same). The times are CLOCK_MONOTONIC, one clock for every process of
the machine, so the test compares them with its own.
"""

from __future__ import annotations

import sys
import threading
import time

from hub.alerts.leader import AlertLeadership


def main() -> None:
    dsn, hub_id = sys.argv[1], sys.argv[2]
    out = threading.Lock()

    def say(*words: object) -> None:
        with out:
            print(*words, flush=True)

    def gained(epoch: int) -> None:
        say("gained", epoch, time.monotonic())

    def lost(epoch: int, reason: str) -> None:
        say("lost", epoch, time.monotonic(), " ".join(reason.split()))

    leadership = AlertLeadership(dsn, hub_id, on_gain=gained, on_loss=lost)
    leadership.start()
    say("started")
    for line in sys.stdin:
        if line.strip() == "state":
            epoch = leadership.epoch
            say("state", int(leadership.is_leader), "-" if epoch is None else epoch)
        elif line.strip() == "stop":
            break
    leadership.stop()
    say("stopped")


if __name__ == "__main__":
    main()
