"""Entry point of the frozen relay program (PyInstaller runs this file as ``__main__``).

A frozen build has no Python interpreter to start other modules with, so ``relay -m server_stub
ARGS`` is accepted here and means what ``python -m server_stub ARGS`` means in a checkout, and
``relay -m relay.child_guard server_stub ARGS`` what it means there: that is how ``relay demo``
starts its receiving stub (``sys.executable -m relay.child_guard server_stub``, a child that cannot
outlive the demo). ``relay -m relay.ingest.parse_helper`` is the helper process that reads the rows of
large files (``relay.ingest.parse_helper``).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:2] == ["-m", "server_stub"]:
        from server_stub.__main__ import main as stub_main

        return stub_main(argv[2:])
    if argv[:3] == ["-m", "relay.child_guard", "server_stub"]:
        from relay import child_guard
        from server_stub.__main__ import main as stub_main

        return child_guard.main(argv[2:], run=stub_main)
    if argv[:2] == ["-m", "relay.ingest.parse_helper"]:  # the row-reading helper of large files
        from relay.ingest import parse_helper

        return parse_helper.main()
    if argv[:2] == ["-m", "relay"]:
        argv = argv[2:]
    from relay.cli import main as relay_main

    return relay_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
