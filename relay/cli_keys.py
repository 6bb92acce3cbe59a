"""`relay token keygen` and `relay token set --key FILE` (part of the command line): keep an
oauth-jwt private key in the keyring and print the public key for registration with the intake."""

from __future__ import annotations

import sys
from pathlib import Path

from relay.oauth_keys import KeyProblem, generate, load_import, registration_text, store


def command(action: str, key_file: str | None, kid: str | None) -> int:
    """`relay token keygen` / `relay token set --key FILE`: keep the private key, print the public one."""
    if action == "keygen":
        key = generate()
    elif action == "set" and key_file:
        try:
            key = load_import(Path(key_file))
        except KeyProblem as exc:
            print(f"relay: {key_file}: {exc}", file=sys.stderr)
            return 2
    else:
        print("relay: --key goes with `relay token set`", file=sys.stderr)
        return 2
    try:
        store(key)
    except KeyProblem as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    what = "a new EC P-384 key pair was made" if action == "keygen" else f"the {key.algorithm} key was imported"
    print(f"{what}; the private key is kept in the OS keyring (auth = \"oauth-jwt\", signing {key.algorithm}).\n"
          "Register this public key with the intake:\n")
    print(registration_text(key, kid), end="")
    return 0

