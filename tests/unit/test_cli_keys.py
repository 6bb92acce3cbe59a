"""`relay token keygen` and `relay token set --key FILE`: the private key goes to the keyring, the
public key is printed as PEM and JWK; keys relay cannot sign with are refused in plain words."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from relay import credentials
from relay.cli import main
from relay.oauth_keys import parse_key
from tests.helpers.keyrings import memory_keyring


@pytest.fixture
def memory():
    with memory_keyring() as kr:
        yield kr


def pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def jwk_of(out: str) -> dict:
    return json.loads(out[out.index("{"):])


def test_keygen_keeps_an_ec_p384_key_and_prints_pem_and_jwk(tmp_path, memory, capsys):
    cfg = tmp_path / "relay.toml"
    cfg.write_text('[intake]\nauth = "oauth-jwt"\n[intake.oauth]\ntoken_url = "https://x.example/api/token"\n'
                   'scope = "s"\nclient_id = "org.sender"\nkey_id = "org.sender.k1"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "token", "keygen"]) == 0
    out = capsys.readouterr().out
    assert "-----BEGIN PUBLIC KEY-----" in out and "PRIVATE" not in out
    jwk = jwk_of(out)
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "P-384", "ES384", "org.sender.k1")
    stored = parse_key(credentials.get_token())
    assert stored.algorithm == "ES384"
    assert stored.public_pem() in out


def test_set_key_imports_rsa_2048_as_rs384(tmp_path, memory, capsys):
    path = tmp_path / "k.pem"
    path.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    assert main(["token", "set", "--key", str(path)]) == 0
    assert jwk_of(capsys.readouterr().out)["alg"] == "RS384"
    assert parse_key(credentials.get_token()).algorithm == "RS384"


@pytest.mark.parametrize("key, words", [
    (rsa.generate_private_key(public_exponent=65537, key_size=1024), "at least 2048"),
    (ec.generate_private_key(ec.SECP256R1()), "EC P-384"),
])
def test_keys_relay_cannot_sign_with_are_refused(tmp_path, memory, capsys, key, words):
    path = tmp_path / "k.pem"
    path.write_bytes(pem(key))
    assert main(["token", "set", "--key", str(path)]) == 2
    assert words in capsys.readouterr().err and credentials.get_token() is None


def test_a_file_that_is_not_a_key_is_refused(tmp_path, memory, capsys):
    path = tmp_path / "k.pem"
    path.write_text("hello", encoding="utf-8")
    assert main(["token", "set", "--key", str(path)]) == 2
    assert "not a private key" in capsys.readouterr().err
