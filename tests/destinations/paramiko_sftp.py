"""A second real SFTP server on loopback, made with paramiko's server side: password logins and
no posix-rename extension (paramiko's SFTP server offers none), so relay's other paths run
against a real peer too. Paths are the machine's own, as with sshd."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import paramiko
from paramiko.sftp import SFTP_OK


class _Handle(paramiko.SFTPHandle):
    def stat(self):
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _Folder(paramiko.SFTPServerInterface):
    def _call(self, fn, *args):
        try:
            return fn(*args)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def open(self, path, flags, attr):
        def do():
            fd = os.open(path, flags, 0o600)
            mode = "wb" if flags & os.O_WRONLY else ("r+b" if flags & os.O_RDWR else "rb")
            handle = _Handle(flags)
            handle.readfile = handle.writefile = os.fdopen(fd, mode)
            return handle
        return self._call(do)

    def stat(self, path):
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.stat(path)))

    lstat = stat

    def remove(self, path):
        return self._call(lambda: (os.remove(path), SFTP_OK)[1])

    def rename(self, oldpath, newpath):
        def do():
            if os.path.exists(newpath):  # SFTP v3 rename does not replace
                return paramiko.SFTPServer.convert_errno(17)
            os.rename(oldpath, newpath)
            return SFTP_OK
        return self._call(do)

    def list_folder(self, path):
        def do():
            return [paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(path, n)), n) for n in os.listdir(path)]
        return self._call(do)

    def canonicalize(self, path):
        return os.path.normpath(path if os.path.isabs(path) else os.path.join("/", path))


@dataclass
class PasswordServer:
    port: int
    host_key: paramiko.PKey
    user: str
    password: str
    logins: list[str] = field(default_factory=list)


class _Auth(paramiko.ServerInterface):
    def __init__(self, server: PasswordServer) -> None:
        self.server = server

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        ok = (username, password) == (self.server.user, self.server.password)
        self.server.logins.append(f"{username}:{'ok' if ok else 'refused'}")
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@contextmanager
def password_sftp_server(user: str = "lab", password: str = "correct horse") -> Iterator[PasswordServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    server = PasswordServer(port=listener.getsockname()[1], host_key=paramiko.Ed25519Key.from_private_key(
        _ed25519_pem()), user=user, password=password)
    transports: list[paramiko.Transport] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(server.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _Folder)
            transports.append(transport)
            try:
                transport.start_server(server=_Auth(server))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        for transport in transports:
            transport.close()
        thread.join(5)


def _ed25519_pem():
    import io

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    text = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()
    return io.StringIO(text)
