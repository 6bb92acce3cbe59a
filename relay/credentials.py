"""The intake credential: the OS keyring, or RELAY_TOKEN in the environment (which wins)."""

from __future__ import annotations

import os

import keyring
import keyring.errors

from relay.errors import CredentialStoreUnavailable

SERVICE = "relay"
ACCOUNT = "intake"
MAX_LENGTH = 1200  # Windows Credential Manager caps a secret at about 1,280 characters


def backend_usable() -> bool:
    """Whether this machine has a secure credential store relay may use."""
    kr = keyring.get_keyring()
    name = type(kr).__module__ + "." + type(kr).__name__
    return not (name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null")
                or getattr(kr, "priority", 1) < 0)


def _require_backend() -> None:
    if not backend_usable():
        raise CredentialStoreUnavailable(
            "this machine has no secure credential store (OS keyring); relay will not keep the credential "
            "in a plain file. Set RELAY_TOKEN in the environment of the relay service instead."
        )


def get_token(environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get("RELAY_TOKEN"):
        return env["RELAY_TOKEN"]
    if not backend_usable():
        return None
    try:
        return keyring.get_password(SERVICE, ACCOUNT)
    except keyring.errors.KeyringError as exc:
        raise CredentialStoreUnavailable(f"the OS keyring could not be read: {exc}") from exc


def set_token(token: str) -> None:
    token = token.strip()
    if not token:
        raise ValueError("the credential is empty")
    if len(token) > MAX_LENGTH:
        raise ValueError(f"the credential is longer than {MAX_LENGTH} characters, more than some keyrings can hold")
    if any(c in token for c in "\r\n\t ") :
        raise ValueError("the credential contains spaces or line breaks; paste it alone on one line")
    _require_backend()
    try:
        keyring.set_password(SERVICE, ACCOUNT, token)
    except keyring.errors.KeyringError as exc:
        raise CredentialStoreUnavailable(f"the OS keyring refused the credential: {exc}") from exc


def clear_token() -> bool:
    _require_backend()
    try:
        keyring.delete_password(SERVICE, ACCOUNT)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise CredentialStoreUnavailable(f"the OS keyring could not be changed: {exc}") from exc
    return True


def store_secret(value: str) -> None:
    """Keep a credential that is not a typed token (an oauth-jwt private key, one line of base64)
    in the intake credential's slot. The caller has checked its form."""
    _require_backend()
    try:
        keyring.set_password(SERVICE, ACCOUNT, value)
    except keyring.errors.KeyringError as exc:
        raise CredentialStoreUnavailable(f"the OS keyring refused the key: {exc}") from exc
