"""A hub's dispatcher on the PostgreSQL queue in a process of its own, for tests/hub/alerts/notify/test_pg_queue.py.

    python -m tests.hub.alerts.notify.dispatcher_proc DSN SCHEMA URL OWNER COUNT TIMEOUT_S

Starts a Dispatcher with one webhook target ``ops`` at URL (secret from ``IOCGW_TEST_HOOK_SECRET``; ``timeout_s``
TIMEOUT_S) on ``PgQueue(DSN, schema=SCHEMA, owner=OWNER)`` with the tests' short lease margin and poll, submits COUNT
alarms (subjects ``station-0`` ...), prints ``submitted <rows queued>`` and runs until killed (or stdin closes).
"""

from __future__ import annotations

import asyncio
import sys

from hub.alerts.alarm import Transition
from hub.alerts.notify import Dispatcher, NotifyConfig
from hub.alerts.notify.pg_queue import PgQueue
from tests.hub.alerts.notify.conftest import PG_LEASE_MARGIN_S, PG_POLL_S
from tests.hub.alerts.notify.stubs import make_alarm


def config(url: str, timeout_s: float) -> NotifyConfig:
    target = {"type": "webhook", "name": "ops", "url": url, "secret": {"env": "IOCGW_TEST_HOOK_SECRET"}}
    return NotifyConfig.model_validate(
        {
            "targets": [{**target, "timeout_s": timeout_s}],
            "routes": [{"targets": ["ops"]}],
            "retry_initial_s": 0.05,
            "retry_max_s": 0.2,
        }
    )


async def main(dsn: str, schema: str, url: str, owner: str, count: int, timeout_s: float) -> None:
    queue = PgQueue(dsn, schema=schema, owner=owner, poll_s=PG_POLL_S, lease_margin_s=PG_LEASE_MARGIN_S)
    d = Dispatcher(config(url, timeout_s), queue=queue)
    await d.start()
    queued = sum(d.submit(make_alarm(subject=f"station-{i}"), Transition.CREATED) for i in range(count))
    print("submitted", queued, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until killed, or the test closes our stdin
    await d.close()


if __name__ == "__main__":
    dsn, schema, url, owner, count, timeout_s = sys.argv[1:7]
    asyncio.run(main(dsn, schema, url, owner, int(count), float(timeout_s)))
