"""A small real MJPEG-over-HTTP server for capture tests, with a switch to cut and restore the stream."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time

import cv2
import numpy as np


class MjpegServer:
    def __init__(self, fps: float = 20.0) -> None:
        self.fps = fps
        self.up = threading.Event()
        self.up.set()
        self.served = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not server.up.is_set():
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                while server.up.is_set():
                    img = np.full((120, 160, 3), (i * 7) % 255, np.uint8)
                    _, buf = cv2.imencode(".jpg", img)
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                    try:
                        self.wfile.write(head + buf.tobytes() + b"\r\n")
                    except OSError:
                        return
                    server.served += 1
                    i += 1
                    time.sleep(1 / server.fps)
                # Cut: stop sending but keep the socket open, as a hung camera does.
                while not server.up.is_set() and not server.closing:
                    time.sleep(0.05)

            def log_message(self, *args: object) -> None:
                pass

        self.closing = False
        self._srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/cam.mjpeg"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    def __enter__(self) -> MjpegServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing = True
        self.up.set()
        self._srv.shutdown()
        self._srv.server_close()
