"""The parent's side of the load processes (bench._load): splitting the nodes, spawning, go, collecting results."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from bench._load import NODE_PREFIX, TOPIC_PREFIX, PublisherSpec, publisher_main


class LoadGenerator:
    """Publisher processes (spawned), each with a few paho clients; nodes split over all clients."""

    def __init__(self, a: argparse.Namespace, port: int, node_prefix: str = NODE_PREFIX) -> None:
        # 'spawn', not 'fork': the children must not inherit the parent's paho threads and sockets.
        self.ctx = multiprocessing.get_context("spawn")
        n_clients = a.publishers * a.clients_per_publisher
        per_node = [a.messages // a.nodes + (1 if i < a.messages % a.nodes else 0) for i in range(a.nodes)]
        width = max(4, len(str(a.nodes)))
        client_nodes: list[list[tuple[str, int]]] = [[] for _ in range(n_clients)]
        for i, count in enumerate(per_node):
            client_nodes[i % n_clients].append((f"{node_prefix}{i + 1:0{width}d}", count))
        self.specs = [
            PublisherSpec(
                index=p,
                host="127.0.0.1",
                port=port,
                prefix=TOPIC_PREFIX,
                clients=tuple(
                    tuple(client_nodes[p * a.clients_per_publisher + c]) for c in range(a.clients_per_publisher)
                ),
                readings_per_message=a.readings_per_message,
                qos=a.qos,
                run_timeout_s=a.timeout,
            )
            for p in range(a.publishers)
        ]
        self.ready = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.procs: list[Any] = []

    def spawn(self, target: Callable[..., None], spec: Any) -> None:
        proc = self.ctx.Process(target=target, args=(spec, self.ready, self.go, self.results), daemon=True)
        proc.start()
        self.procs.append(proc)

    def wait_ready(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        got = 0
        while got < n:
            try:
                kind, index = self.ready.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except Exception:  # queue.Empty
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n - got} load processes not ready after {timeout} s") from None
                if any(p.exitcode not in (None, 0) for p in self.procs):
                    raise RuntimeError("a load process died while starting") from None
                continue
            if kind != "ready":
                raise RuntimeError(f"load process {index} failed to start: {self._first_error()}")
            got += 1

    def _first_error(self) -> str:
        with contextlib.suppress(Exception):
            r = self.results.get(timeout=2)
            return str(r.get("error"))
        return "(no detail)"

    def start_publishers(self) -> None:
        for spec in self.specs:
            self.spawn(publisher_main, spec)

    def collect(self, n: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        out: list[dict[str, Any]] = []
        while len(out) < n:
            try:
                out.append(self.results.get(timeout=max(0.1, min(1.0, deadline - time.monotonic()))))
            except Exception:  # queue.Empty
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n - len(out)} load processes gave no result in {timeout} s") from None
                dead = [p for p in self.procs if p.exitcode is not None and p.exitcode != 0]
                if dead:
                    raise RuntimeError(f"load process exited with {dead[0].exitcode}") from None
        errors = [r["error"] for r in out if r.get("error")]
        if errors:
            raise RuntimeError("load process failed: " + errors[0])
        return out

    def close(self) -> None:
        for p in self.procs:
            p.join(timeout=5)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=3)
            if p.is_alive():
                p.kill()
                p.join(timeout=3)
        # A queue's feeder thread would block this process's exit on data nobody reads any more.
        for q in (self.ready, self.results):
            q.close()
            q.cancel_join_thread()


def publish_stats(results: list[dict[str, Any]], rpm: int) -> dict[str, Any]:
    """The publishers' results summed: first publish, last PUBACK, their rate and CPU seconds."""
    pubs = [r for r in results if r["role"] == "publisher"]
    first = min(r["first_publish"] for r in pubs if r["first_publish"] is not None)
    last_ack = max((r["last_ack"] for r in pubs if r["last_ack"] is not None), default=first)
    published = sum(r["published"] for r in pubs)
    return {
        "published": published,
        "acked": sum(r["acked"] for r in pubs),
        "first_publish": first,
        "last_ack": last_ack,
        "publish_readings_per_s": published * rpm / (last_ack - first) if last_ack > first else None,
        "load_cpu_s": sum(r.get("cpu_s", 0.0) for r in pubs),
    }
