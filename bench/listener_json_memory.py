"""Peak memory of turning one large JSON array body into items, as the listener does, against a
whole read (the body decoded to text and parsed in one go) measured in the same run.

Each way runs in its own process; the figure is the peak RSS (VmHWM), in bodies, above the RSS with
the body's arriving pieces in memory (the allocator reuses their memory once they are copied out). Run: .venv/bin/python bench/listener_json_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys

from relay.samples import simple_report_rows


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _one(way: str) -> None:
    from relay.formats import json_reader

    rows = simple_report_rows(7000, 3)
    body = json.dumps([{**r, "Note": "y" * 4000} for r in rows]).encode()
    del rows
    pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]  # as the body arrives
    size = len(body)
    del body
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # resets VmHWM
    base = _status("VmRSS")
    buffer = bytearray(size)
    at = 0
    for piece in pieces:
        buffer[at:at + len(piece)] = piece
        at += len(piece)
    del pieces
    if way == "stream":
        items = json_reader.read_json([buffer], intake_format="json")
    else:
        text = json_reader._decode_text(buffer, "JSON")
        del buffer
        items = json_reader._whole_array(text, False, None)
        del text
    print(json.dumps({"items": len(items), "bytes": size, "peak": (_status("VmHWM") - base) / size}))


def main() -> None:
    if len(sys.argv) == 2:
        _one(sys.argv[1])
        return
    figures = {}
    for way in ("whole", "stream"):
        out = subprocess.run([sys.executable, __file__, way], check=True, capture_output=True, text=True).stdout
        figures[way] = json.loads(out)
    size = figures["whole"]["bytes"] / 1e6
    print(f"one {size:.1f} MB JSON array body, {figures['whole']['items']:,} results")
    for way, figure in figures.items():
        print(f"  {way:6}  peak {figure['peak']:.2f} x the body above the RSS before it")
    print(f"  stream / whole: {figures['stream']['peak'] / figures['whole']['peak']:.2f}")


if __name__ == "__main__":
    main()
