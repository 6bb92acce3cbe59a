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


class GatedMotoServer:
    """moto's real S3 server on 127.0.0.1 with a gate in front of object PUTs.

    ``hold_after(n)`` lets the next ``n`` object PUTs through and holds every later one after its
    body has been read, as a store that has the bytes but has not answered yet. ``release()`` lets
    the held ones go on into moto, which stores them: the sender, killed meanwhile, never hears that
    they arrived (an answer lost after the store kept the object). ``puts`` lists each object PUT's
    path in arrival order, ``held`` those the gate held."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._lock = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._allowed: int | None = None
        self._inflight = 0
        self.held: list[str] = []
        self.puts: list[str] = []
        gate = self

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                from moto.moto_server import threaded_moto_server as tms
                from werkzeug.serving import make_server

                app = gate._wrap(tms.DomainDispatcherApplication(tms.create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=tms.MotoRequestHandler)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = Server(ip_address="127.0.0.1", port=0, verbose=False)

    def _wrap(self, app):  # type: ignore[no-untyped-def]
        import io

        def gated(environ, start_response):  # type: ignore[no-untyped-def]
            parts = environ.get("PATH_INFO", "").strip("/").split("/", 1)
            if environ["REQUEST_METHOD"] != "PUT" or len(parts) < 2 or not parts[1]:
                return app(environ, start_response)
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            with self._lock:
                self.puts.append(environ["PATH_INFO"])
                hold = self._allowed is not None and self._allowed <= 0
                if self._allowed is not None:
                    self._allowed -= 1
                if hold:
                    self.held.append(environ["PATH_INFO"])
                self._inflight += 1
            try:
                if hold:
                    self._open.wait(60)
                return app(environ, start_response)
            finally:
                with self._lock:
                    self._inflight -= 1
                    self._lock.notify_all()

        return gated

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def hold_after(self, n: int) -> None:
        with self._lock:
            self._allowed = n
        self._open.clear()

    def release(self) -> None:
        """Opens the gate; returns once every held PUT has been handed to moto and answered."""
        with self._lock:
            self._allowed = None
        self._open.set()
        with self._lock:
            self._lock.wait_for(lambda: self._inflight == 0, timeout=30)

    def stop(self) -> None:
        self.release()
        self._server.stop()
