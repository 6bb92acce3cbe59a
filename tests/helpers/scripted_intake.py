"""A real HTTP server on 127.0.0.1 that answers what a test scripts, byte for byte if need be.

    with ScriptedIntake(Answer(400, "Resubmit as 'POST /api/waters'"), Answer(201, {"id": "r"})) as intake:
        ... send to intake.url ...
        assert len(intake.requests) == 1

Each request gets the next answer (the last one repeats). ``Answer.trickle_s`` sends the whole
answer (status line, headers, body) one byte at a time with that pause between bytes, as a broken
intake or proxy might; the server stops trickling when the client goes away or the test ends.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int
    body: Any = b""  # bytes, str, or a JSON value
    headers: dict[str, str] = field(default_factory=dict)
    trickle_s: float = 0.0

    def raw(self) -> bytes:
        if isinstance(self.body, bytes):
            body, ctype = self.body, "text/plain"
        elif isinstance(self.body, str):
            body, ctype = self.body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            body, ctype = json.dumps(self.body).encode("utf-8"), "application/json"
        head = [f"HTTP/1.1 {self.status} Scripted", f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        answer = self.server.intake.next_answer(seen)
        data = answer.raw()
        if answer.trickle_s <= 0:
            self.wfile.write(data)
            return
        try:
            for i in range(len(data)):
                if self.server.stopping.wait(answer.trickle_s):
                    break
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
        except OSError:  # the client gave up: what a trickling server meets
            pass
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    intake: ScriptedIntake
    stopping: threading.Event


class ScriptedIntake:
    def __init__(self, *answers: Answer | Any) -> None:
        self.answers = [a if isinstance(a, Answer) else Answer(*a) for a in answers]
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.intake = self
        self._server.stopping = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-intake", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.base_url + "/api/waters"

    def next_answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def __enter__(self) -> ScriptedIntake:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
