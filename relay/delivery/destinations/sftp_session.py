"""One SSH connection for the sftp:// destination: the host key checked against the pin before
anything else is said, then the login (a private key or a password), then an SFTP session that
remembers which extensions the server offers (paramiko does not keep them).

The server's host key must match ``intake.sftp.known_hosts`` or ``intake.sftp.host_key_sha256``;
it is never accepted unseen. A server offers several host keys (ed25519, ecdsa, rsa) and shows
one per connection, so with fingerprints relay asks for each kind in turn until one matches or
none is left: nothing is sent before a match.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import struct
from dataclasses import dataclass

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from relay.destination_config import SftpConfig

KEY_FAMILIES = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256"),
)


class HostKeyMismatch(Exception):
    """The server's host key is not the pinned one (nothing was sent)."""


class LoginRefused(Exception):
    """The server refused the login (or relay has no usable credential)."""


class _Sftp(paramiko.SFTPClient):
    """An SFTP client that keeps the extension names of the server's VERSION packet."""

    extensions: frozenset[str] = frozenset()

    def _send_version(self) -> int:
        m = paramiko.Message()
        m.add_int(3)
        self._send_packet(paramiko.sftp.CMD_INIT, m)
        t, data = self._read_packet()
        if t != paramiko.sftp.CMD_VERSION:
            raise paramiko.SFTPError("Incompatible sftp protocol")
        names = set()
        rest = paramiko.Message(data[4:])
        try:
            while rest.get_remainder():
                names.add(rest.get_text())
                rest.get_binary()
        except (struct.error, IndexError, UnicodeDecodeError):
            pass  # a malformed extension list: use none of them
        self.extensions = frozenset(names)
        version: int = struct.unpack(">I", data[:4])[0]
        return version


@dataclass
class Session:
    transport: paramiko.Transport
    sftp: _Sftp

    @property
    def posix_rename(self) -> bool:
        return "posix-rename@openssh.com" in self.sftp.extensions

    def close(self) -> None:
        try:
            self.sftp.close()
        finally:
            self.transport.close()


def load_private_key(text: str) -> paramiko.PKey:
    """A private key in OpenSSH or PEM form (ed25519, ecdsa or rsa, not passphrase-protected)."""
    data = text.encode()
    loaded: object
    try:
        loaded = serialization.load_ssh_private_key(data, password=None)
    except ValueError:
        loaded = serialization.load_pem_private_key(data, password=None)
    cls: type[paramiko.PKey]
    if isinstance(loaded, rsa.RSAPrivateKey):
        cls = paramiko.RSAKey
    elif isinstance(loaded, ed25519.Ed25519PrivateKey):
        cls = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        cls = paramiko.ECDSAKey
    else:
        raise ValueError(f"a {type(loaded).__name__} key is not one relay can use (ed25519, ecdsa or rsa)")
    return cls.from_private_key(io.StringIO(text))


def key_file_text(path: os.PathLike[str] | str) -> str:
    """The key file's text; refused when other users may read it (as ssh does)."""
    info = os.stat(path)
    if os.name != "nt" and stat.S_IMODE(info.st_mode) & 0o077:
        raise LoginRefused(f"intake.sftp.key_file {os.fspath(path)} can be read by other users of this machine: "
                           f"make it private (chmod 600 {os.fspath(path)})")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _known_host_keys(config: SftpConfig) -> dict[str, paramiko.PKey]:
    assert config.known_hosts is not None
    hostkeys = paramiko.HostKeys()
    hostkeys.load(os.fspath(config.known_hosts))
    name = config.host if config.port == 22 else f"[{config.host}]:{config.port}"
    found = hostkeys.lookup(name)
    return dict(found) if found else {}


def _families(known: dict[str, paramiko.PKey] | None) -> list[tuple[str, ...]]:
    if known is None:  # fingerprints: the kinds in paramiko's order of preference
        return list(KEY_FAMILIES)
    out: list[tuple[str, ...]] = []
    for kind in known:
        family = ("rsa-sha2-512", "rsa-sha2-256") if kind in ("ssh-rsa", "rsa-sha2-512", "rsa-sha2-256") else (kind,)
        if family not in out:
            out.append(family)
    return out


def _matches(config: SftpConfig, key: paramiko.PKey, known: dict[str, paramiko.PKey] | None) -> bool:
    if known is not None:
        want = known.get(key.get_name()) or (known.get("ssh-rsa") if key.get_name().startswith("rsa") else None)
        return want is not None and want.asbytes() == key.asbytes()
    return key.fingerprint in config.host_key_sha256


def _handshake(config: SftpConfig, family: tuple[str, ...], timeout: float) -> paramiko.Transport:
    sock = socket.create_connection((config.host, config.port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.get_security_options().key_types = family
        transport.start_client(timeout=timeout)
    except BaseException:
        transport.close()
        raise
    return transport


def open_session(config: SftpConfig, secret: str | None, timeout: float) -> Session:
    """Connect, check the host key, log in, open SFTP. Raises HostKeyMismatch or LoginRefused for
    what a person must fix; OSError, EOFError or paramiko.SSHException for what may pass."""
    known = _known_host_keys(config) if config.known_hosts is not None else None
    if known is not None and not known:
        raise HostKeyMismatch(f"{config.known_hosts} has no host key for {config.host} (port {config.port}); add "
                              "the server's key to it (ssh-keyscan, checked with the server's administrators)")
    seen: list[str] = []
    transport = None
    for family in _families(known):
        try:
            candidate = _handshake(config, family, timeout)
        except paramiko.SSHException as exc:
            if "Incompatible" in str(exc) or "no acceptable host key" in str(exc):
                continue  # the server has no key of this kind
            raise
        key = candidate.get_remote_server_key()
        if _matches(config, key, known):
            transport = candidate
            break
        seen.append(f"{key.get_name()} {key.fingerprint}")
        candidate.close()
    if transport is None:
        pinned = (f"the keys in {config.known_hosts}" if known is not None
                  else "intake.sftp.host_key_sha256 " + ", ".join(config.host_key_sha256))
        raise HostKeyMismatch(f"the SFTP server {config.host}:{config.port} shows a host key that is not the pinned "
                              f"one ({'; '.join(seen) or 'no key of a kind relay can check'}; expected {pinned}). "
                              "Nothing was sent. If the server's key was changed on purpose, confirm the new "
                              "fingerprint with its administrators and update the setting")
    try:
        _login(transport, config, secret)
        channel_timeout = timeout
        sftp = _Sftp.from_transport(transport)
        if sftp is None:
            raise paramiko.SSHException("the server did not open an SFTP session")
        sftp.get_channel().settimeout(channel_timeout)
    except BaseException:
        transport.close()
        raise
    return Session(transport, sftp)


def _login(transport: paramiko.Transport, config: SftpConfig, secret: str | None) -> None:
    if config.key_file is not None:
        try:
            text = key_file_text(config.key_file)
        except OSError as exc:
            raise LoginRefused(f"cannot read intake.sftp.key_file {config.key_file}: {exc.strerror}") from exc
    elif secret:
        text = secret
    else:
        raise LoginRefused("no SFTP credential is stored: store the private key or the password with "
                           "`relay token set` (or set intake.sftp.key_file)")
    try:
        if "PRIVATE KEY-----" in text:
            try:
                pkey = load_private_key(text)
            except (ValueError, TypeError, paramiko.SSHException) as exc:
                raise LoginRefused(f"the stored SFTP private key cannot be used: {exc}") from exc
            transport.auth_publickey(config.user, pkey)
        else:
            transport.auth_password(config.user, text)
    except paramiko.AuthenticationException as exc:
        raise LoginRefused(f"the SFTP server refused the login of {config.user!r} ({exc}): store the right key or "
                           "password with `relay token set`") from exc
    if not transport.is_authenticated():
        raise LoginRefused(f"the SFTP server did not accept the login of {config.user!r}")
