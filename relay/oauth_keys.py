"""The private key of ``auth = "oauth-jwt"``: made, imported, kept and read back.

The key lives in the OS keyring (the intake credential's slot) as one line of base64 PKCS#8 DER,
or in ``intake.oauth.key_file`` (PEM, 0600). RELAY_TOKEN may carry it too (PEM or that line) for
headless servers. EC P-384 keys sign with ES384, RSA keys of 2048 bits or more with RS384.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from relay import credentials

MIN_RSA_BITS = 2048
MAX_KEY_CHARS = 4000  # RSA 4096 fits; Windows Credential Manager holds about 1,280 (EC keys: ~250)


class KeyProblem(ValueError):
    """A key relay cannot sign with; the message says why in plain words."""


@dataclass(frozen=True)
class SigningKey:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    algorithm: str  # ES384 | RS384

    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def jwk(self, kid: str | None = None) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517), as intakes ask for it at registration."""
        public = self.key.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            nums = public.public_numbers()
            jwk: dict[str, Any] = {"kty": "EC", "crv": "P-384", "x": _b64int(nums.x, 48), "y": _b64int(nums.y, 48)}
        else:
            rsa_nums = public.public_numbers()
            jwk = {"kty": "RSA", "n": _b64int(rsa_nums.n), "e": _b64int(rsa_nums.e)}
        jwk.update({"alg": self.algorithm, "use": "sig"})
        if kid:
            jwk["kid"] = kid
        return jwk

    def stored_form(self) -> str:
        der = self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        return base64.b64encode(der).decode("ascii")


def _b64int(value: int, size: int | None = None) -> str:
    raw = value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def signing_key(key: Any) -> SigningKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name != "secp384r1":
            raise KeyProblem(f"the key is an EC key on {key.curve.name}; relay signs with EC P-384 (secp384r1) "
                             f"or RSA of {MIN_RSA_BITS} bits or more")
        return SigningKey(key, "ES384")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyProblem(f"the RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are needed")
        return SigningKey(key, "RS384")
    raise KeyProblem(f"a {type(key).__name__} cannot sign client assertions; use EC P-384 or RSA")


def parse_key(text: str | bytes) -> SigningKey:
    """A private key from PEM, or from the one-line base64 DER relay stores."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            if b"ENCRYPTED" in data.split(b"\n", 1)[0]:
                raise KeyProblem("the key file is protected by a passphrase; relay needs an unprotected key "
                                 "(kept in the keyring, or in a file only you can read)")
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode(data, validate=True), password=None)
    except KeyProblem:
        raise
    except (ValueError, TypeError) as exc:
        raise KeyProblem("this is not a private key relay can read (PEM or PKCS#8)") from exc
    return signing_key(key)


def load_file(path: Path) -> SigningKey:
    if os.name != "nt" and path.stat().st_mode & 0o077:
        raise KeyProblem(f"{path} can be read by other users of this machine; make it private (chmod 600 {path})")
    try:
        return parse_key(path.read_bytes())
    except OSError as exc:
        raise KeyProblem(f"cannot read {path} ({exc.strerror or exc})") from exc


def generate() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384")


def store(key: SigningKey) -> None:
    """Keep the private key in the OS keyring (the intake credential's slot)."""
    text = key.stored_form()
    if len(text) > MAX_KEY_CHARS:
        raise KeyProblem("the key is too large for the keyring; use an EC P-384 key or intake.oauth.key_file")
    credentials.store_secret(text)


def registration_text(key: SigningKey, kid: str | None) -> str:
    """What a person hands to the intake's administrators: the public key as PEM and as a JWK."""
    return (key.public_pem() + "\n" + json.dumps(key.jwk(kid), indent=2) + "\n")


def load_import(path: Path) -> SigningKey:
    """A key file a person imports: read once, so its permissions are the person's business."""
    try:
        return parse_key(path.read_bytes())
    except OSError as exc:
        raise KeyProblem(f"cannot read it ({exc.strerror or exc})") from exc
