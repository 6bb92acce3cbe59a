"""One app per outbox: a second launch asks the first to come forward, then exits.

The first instance listens on a local socket named after a hash of the outbox path (readable by
this user only); a later launch connects, says "show", and leaves. The agent's own lock on the
outbox still guards against a relay started some other way (``relay run``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("relay.ui")

CONNECT_TIMEOUT_MS = 500


def server_name(outbox: Path) -> str:
    digest = hashlib.sha256(str(outbox.resolve()).encode("utf-8")).hexdigest()[:24]
    return f"relay-{digest}"


def ask_running(outbox: Path) -> bool:
    """True when another instance runs on ``outbox`` and was asked to show its window."""
    sock = QLocalSocket()
    sock.connectToServer(server_name(outbox))
    if not sock.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    sock.write(b"show\n")
    sock.flush()
    sock.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    sock.disconnectFromServer()
    return True


class InstanceServer(QObject):
    showRequested = Signal()

    def __init__(self, outbox: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(outbox)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        if self._server.listen(self.name):
            return True
        # A socket file left by an instance that crashed: nobody answered ask_running, so remove it.
        QLocalServer.removeServer(self.name)
        ok = self._server.listen(self.name)
        if not ok:
            log.warning("cannot listen for other launches (%s): %s", self.name, self._server.errorString())
        return ok

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        data = bytes(sock.readAll().data())
        if b"show" in data:
            self.showRequested.emit()
