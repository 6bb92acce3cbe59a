"""``sftp://USER@HOST[:PORT]/PATH``: one file per batch (INTERFACE §9).

The body is written as ``PATH/.{name}.part`` and renamed to ``PATH/{name}`` (posix-rename where the
server offers it), so a reader of PATH never sees half a file. The name comes from the batch's key
and formation time, so a retry writes the same name: a file ``PATH/{name}`` of the batch's size
means an earlier attempt got there (its answer was lost) and counts as delivered. A ``.part`` of
the same name left by an attempt that died is removed before writing, and one this attempt leaves
after a failure is removed at once where the connection still allows.
"""

from __future__ import annotations

import errno
import json
import logging
import posixpath
import socket
import threading

import paramiko

from relay.delivery.answers import Decision
from relay.delivery.destinations.base import (
    BAD_CREDENTIAL,
    OK,
    UNREACHABLE,
    WRONG,
    DestinationContext,
    ProbeResult,
    TrackingIds,
    scheme_settings,
)
from relay.delivery.destinations.names import fields, render
from relay.delivery.destinations.sftp_session import HostKeyMismatch, LoginRefused, Session, open_session
from relay.destination_config import SftpConfig
from relay.errors import ConfigError
from relay.store.models import Batch

log = logging.getLogger("relay.delivery")

CHUNK = 256 * 1024


class _Refused(Exception):
    """The server refused an SFTP operation in a way retrying does not fix (a person must act)."""


class SftpDestination:
    formats = frozenset({"csv", "ndjson", "json", "hl7"})
    max_items: int | None = None

    def __init__(self, context: DestinationContext) -> None:
        self.context = context
        config = context.config
        sftp: SftpConfig = scheme_settings(context, "sftp")
        self.sftp: SftpConfig = sftp
        self.dest = config.intake.destination
        self.timeout = config.intake.timeout_s
        self.where = f"sftp://{sftp.user}@{sftp.host}:{sftp.port}/{sftp.path.lstrip('/') if sftp.path else '~'}"
        self._idle: list[Session] = []  # open sessions between deliveries (one per sender thread at most)
        self._lock = threading.Lock()
        self._closed = False

    def names(self, batch: Batch) -> tuple[str, str]:
        """(final path, .part path) of ``batch`` on the server."""
        name = render(self.sftp.name_template, fields(batch, sender=self.dest.sender, env=self.dest.env))
        folder = self.sftp.path  # "" is the login's home folder: names relative to it
        return posixpath.join(folder, name), posixpath.join(folder, f".{name}.part")

    # -- sessions ------------------------------------------------------------------------------

    def _take(self) -> Session:
        with self._lock:
            while self._idle:
                session = self._idle.pop()
                if session.transport.is_active():
                    return session
                session.close()
        return open_session(self.sftp, self._secret(), self.timeout)

    def _secret(self) -> str | None:
        """The stored credential, read only when no key_file is set (the keyring is not asked then)."""
        return None if self.sftp.key_file is not None else self.context.secret()

    def _give_back(self, session: Session) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(session)
                return
        session.close()

    # -- Destination ---------------------------------------------------------------------------

    def missing_credential(self) -> str | None:
        """intake.sftp.key_file needs nothing stored; otherwise the key or password in the keyring."""
        if self.sftp.key_file is not None or self.context.secret():
            return None
        return ("no SFTP credential is stored: store the private key or the password with `relay token set` "
                "(or set intake.sftp.key_file)")

    def deliver(self, batch: Batch, tracking_ids: TrackingIds) -> Decision:
        final, part = self.names(batch)
        try:
            session = self._take()
        except HostKeyMismatch as exc:
            return Decision("pause", None, str(exc))
        except LoginRefused as exc:
            return Decision("pause", None, str(exc))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            return Decision("unknown", None, f"could not reach {self.where} ({_why(exc)}); the same file is "
                                             "written again")
        try:
            decision = self._write(session, batch, final, part)
        except _Refused as exc:
            session.close()
            return Decision("pause", None, str(exc))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._remove_quietly(session, part)
            session.close()
            return Decision("unknown", None, f"writing to {self.where} failed ({_why(exc)}); outcome unknown, the "
                                             "same file is written again")
        self._give_back(session)
        return decision

    def _write(self, session: Session, batch: Batch, final: str, part: str) -> Decision:
        sftp = session.sftp
        size = len(batch.body)
        there = _size(sftp, final)
        if there == size:  # an earlier attempt got there; its answer was lost
            log.info("batch %d: %s is already on the server", batch.id, posixpath.basename(final))
            return Decision("delivered", None, "already at the destination",
                            receipt=json.dumps({"path": final, "size": size, "note": "already at the destination"}))
        if there is not None:
            raise _Refused(f"{final} on {self.sftp.host} already holds a different file ({there} bytes, this batch has "
                           f"{size}); relay does not overwrite it: a person must look at it")
        self._remove_quietly(session, part, raising=True)  # a .part an attempt that died left behind
        try:
            with sftp.open(part, "wb") as fh:
                fh.set_pipelined(True)
                for start in range(0, size, CHUNK):
                    fh.write(batch.body[start:start + CHUNK])
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.ENOENT):
                self._remove_quietly(session, part)
                what = "relay may not write there" if exc.errno == errno.EACCES else "the folder does not exist"
                raise _Refused(f"cannot write into {posixpath.dirname(part) or 'the home folder'} on "
                               f"{self.sftp.host}: {what}; check intake.url and the login's rights") from exc
            raise
        written = _size(sftp, part)
        if written != size:
            raise OSError(f"the server holds {written} of {size} bytes after writing")
        if session.posix_rename:
            sftp.posix_rename(part, final)
        else:
            sftp.rename(part, final)
        log.info("batch %d written over sftp to %s (%d bytes)", batch.id, self.sftp.host, size)
        return Decision("delivered", None, "delivered", receipt=json.dumps({"path": final, "size": size}))

    def _remove_quietly(self, session: Session, path: str, *, raising: bool = False) -> None:
        try:
            session.sftp.remove(path)
        except FileNotFoundError:
            pass
        except (OSError, EOFError, paramiko.SSHException):
            if raising:
                raise

    def probe(self) -> ProbeResult:
        """Lists the folder: nothing is written."""
        try:
            session = open_session(self.sftp, self._secret(), min(self.timeout, 20.0))
        except HostKeyMismatch as exc:
            return ProbeResult(WRONG, f"Not connected: {exc}.")
        except LoginRefused as exc:
            return ProbeResult(BAD_CREDENTIAL, f"{self.sftp.host} is reachable and its host key matches, but {exc}.")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            return ProbeResult(UNREACHABLE, f"Could not reach {self.sftp.host}:{self.sftp.port}: {_why(exc)}.")
        try:
            entries = session.sftp.listdir(self.sftp.path or ".")
        except OSError as exc:
            return ProbeResult(WRONG, f"Logged in to {self.sftp.host}, but the folder {self.sftp.path or '~'} cannot "
                                      f"be listed: {exc.strerror or exc}.")
        finally:
            session.close()
        return ProbeResult(OK, f"Connected to {self.where}: the host key matches, the login was accepted and the "
                               f"folder holds {len(entries)} entries (nothing was written).")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


def _size(sftp: paramiko.SFTPClient, path: str) -> int | None:
    try:
        return sftp.stat(path).st_size
    except FileNotFoundError:
        return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
