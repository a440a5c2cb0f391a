"""The InfluxDB writer against a real local HTTP server that answers like InfluxDB does when unhappy."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub.config import HubInflux
from hub.store.influx import InfluxWriter, Outcome


class ScriptedInflux:
    """Answers each POST /write with the next (status, headers, body) of a script; records the bodies."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[str, dict[str, str], bytes, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, dict(self.headers), body, time.monotonic()))
                status, headers, text = outer.script.pop(0) if outer.script else (204, {}, "")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        s = ScriptedInflux(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def writer(url: str, **kw) -> InfluxWriter:
    return InfluxWriter(HubInflux(url=url, create_database=False, **kw))


def test_gzip_body_and_v1_path(scripted):
    srv = scripted([(204, {}, "")])
    assert writer(srv.url, database="ioc").write(b"m v=1 1\n", budget_s=1).outcome is Outcome.WRITTEN
    path, headers, body, _ = srv.requests[0]
    assert path == "/write?db=ioc&precision=ms"
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"m v=1 1\n"


def test_v2_and_v3_paths_and_token(scripted, monkeypatch):
    monkeypatch.setenv("INFLUX_TOKEN", "s3cret")
    srv = scripted([(204, {}, ""), (204, {}, "")])
    token = {"env": "INFLUX_TOKEN"}
    writer(srv.url, api="v2", org="ioc", bucket="telemetry", token=token).write(b"m v=1 1\n", 1)
    writer(srv.url, api="v3", database="ioc", token=token).write(b"m v=1 1\n", 1)
    assert srv.requests[0][0] == "/api/v2/write?org=ioc&bucket=telemetry&precision=ms"
    assert srv.requests[1][0] == "/api/v3/write_lp?db=ioc&precision=millisecond"
    assert all(r[1]["Authorization"] == "Token s3cret" for r in srv.requests)


def test_429_retry_after_is_honoured(scripted):
    srv = scripted([(429, {"Retry-After": "1"}, '{"error":"too many requests"}'), (204, {}, "")])
    result = writer(srv.url).write(b"m v=1 1\n", budget_s=5)
    assert result.outcome is Outcome.WRITTEN
    assert srv.requests[1][3] - srv.requests[0][3] >= 0.95


def test_5xx_backs_off_then_gives_up_as_unavailable(scripted):
    srv = scripted([(500, {}, '{"error":"engine: cache full"}')] * 50)
    result = writer(srv.url).write(b"m v=1 1\n", budget_s=0.5)
    assert result.outcome is Outcome.UNAVAILABLE
    assert "cache full" in result.detail
    gaps = [b[3] - a[3] for a, b in zip(srv.requests, srv.requests[1:], strict=False)]
    assert len(srv.requests) >= 2 and gaps == sorted(gaps, key=lambda g: round(g, 1)), "no growing backoff"


def test_bad_data_is_rejected_not_retried(scripted):
    srv = scripted([(400, {}, '{"error":"partial write: field type conflict"}')])
    result = writer(srv.url).write(b"m v=1 1\n", budget_s=5)
    assert result.outcome is Outcome.REJECTED
    assert "field type conflict" in result.detail
    assert len(srv.requests) == 1


def test_connection_refused_is_unavailable():
    from testkit.localsvc import free_port

    result = writer(f"http://127.0.0.1:{free_port()}").write(b"m v=1 1\n", budget_s=0)
    assert result.outcome is Outcome.UNAVAILABLE


def test_reader_names_a_refused_query(influx):
    from hub.store.influx_query import InfluxReader

    reader = InfluxReader(influx.url, "iocgw")
    try:
        with pytest.raises(RuntimeError, match="InfluxDB refused 'SELEKT nonsense'"):
            reader.query("SELEKT nonsense")
    finally:
        reader.close()


def test_the_lines_a_real_influxdb_refuses_are_found_and_the_rest_stored(influx):
    """One bad line must not take its batch with it: halving finds exactly the refused lines."""
    from hub.store.influx import isolate_rejected
    from hub.store.influx_query import count

    w = InfluxWriter(HubInflux(url=influx.url, database="iocgw"))
    t = 1795305600000
    # A field written as a string first: the same field as a float in that shard is a type conflict.
    assert w.write_once(f'conflict,node_id=x value="text" {t}\n'.encode()).outcome is Outcome.WRITTEN
    good = [f"water_level,node_id=n{i},sensor_id=wl value={i}.5 {t + i}" for i in range(20)]
    bad = [f"conflict,node_id=y value=1.0 {t}", "water_level,node_id=n99 value= 1"]  # type conflict; no value
    lines = [*good[:7], bad[0], *good[7:15], bad[1], *good[15:]]
    first = w.write_once(("\n".join(lines) + "\n").encode())
    assert first.outcome is Outcome.REJECTED and first.status == 400
    iso = isolate_rejected(w, lines, first)
    assert iso.result.outcome is Outcome.WRITTEN
    assert sorted(line for line, _ in iso.rejected) == sorted(bad)
    reasons = dict(iso.rejected)
    assert "field type conflict" in reasons[bad[0]] and reasons[bad[1]].startswith("HTTP 400")
    assert count(influx.url, "iocgw", "water_level") == len(good)  # every good line stored, once
    assert iso.requests <= 4 * len(bad) * len(lines).bit_length()


def test_isolation_stops_when_the_store_goes_away(scripted):
    from hub.store.influx import WriteResult, isolate_rejected

    server = scripted([(400, {}, '{"error":"bad"}'), (503, {}, "")])
    w = writer(server.url)
    iso = isolate_rejected(w, ["a v=1 1", "b v=2 2"], WriteResult(Outcome.REJECTED, 400, "bad"))
    assert iso.result.outcome is Outcome.UNAVAILABLE  # the caller keeps the whole batch
