"""``python -m server_stub``: run the receiving stub until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from server_stub.app import create_app
from server_stub.server import bind_socket, serve, socket_url
from server_stub.settings import settings_from_args
from server_stub.store import StoreError


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        sys.stderr.write(f"server_stub: cannot listen on {settings.host}:{settings.port}: {exc}\n")
        return 2
    try:
        app = create_app(settings)
    except (StoreError, OSError, ValueError) as exc:  # OSError: the --log file; ValueError: a --jwt-key
        sock.close()
        sys.stderr.write(f"server_stub: {exc}\n")
        return 2
    url = socket_url(sock)

    def announce() -> None:
        # A parent process reads this line to learn the port (--port 0).
        sys.stdout.write(f"listening on {url}\n")
        sys.stdout.flush()

    serve(app, sock, on_started=announce)
    return 0


if __name__ == "__main__":
    sys.exit(main())
