"""S3 peers on loopback: moto's real S3 (and KMS, IAM) server, and a small store that answers
every request with one chosen S3 error, or never answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
             '<RequestId>r1</RequestId><HostId>h1</HostId></Error>')


@contextmanager
def failing_store(status: int, code: str, *, silent: bool = False) -> Iterator[str]:
    """An S3 endpoint (http://127.0.0.1:PORT) that reads each request and answers ``status`` with
    ``code``, or, when ``silent``, keeps the connection open without answering."""
    release = threading.Event()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            if silent:
                release.wait(30)
                return
            body = ERROR_XML.format(code=code, message=f"{code} from the test store").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
