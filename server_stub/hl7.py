"""HL7 v2 batches (``application/hl7-v2``): one item per message, counted by the content hash of
INTERFACE §8, computed here anew (the stub shares no code with the agent): segments separated by
CR, trailing empty fields, repetitions, components and subcomponents trimmed, MSH-7 and MSH-10
emptied, SHA-256 of the UTF-8 text. FHS, BHS, BTS and FTS segments frame the batch and are not items.
"""

from __future__ import annotations

import hashlib
import re

from server_stub.payload import Batch, Item, ItemProblem, PayloadError

_ENDS = re.compile(r"[\r\n\x0b\x1c]+")
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")


def _trim(parts: list[str]) -> list[str]:
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def canonical(segments: list[str]) -> str:
    msh = segments[0]
    fs, enc = msh[3], msh[4:msh.find(msh[3], 4)] if msh.find(msh[3], 4) > 0 else msh[4:]
    comp, rep = enc[0], enc[1] if len(enc) > 1 else "~"
    sub = enc[3] if len(enc) > 3 else "&"
    out = []
    for seg in segments:
        fields = seg.split(fs)
        first = 2 if fields[0] == "MSH" else 1
        if fields[0] == "MSH":
            for i in (6, 9):
                if len(fields) > i:
                    fields[i] = ""
        for i in range(first, len(fields)):
            fields[i] = rep.join(_trim([comp.join(_trim([sub.join(_trim(c.split(sub))) for c in r.split(comp)]))
                                        for r in fields[i].split(rep)]))
        out.append(fs.join(_trim(fields)))
    return "\r".join(out)


def parse_hl7(body: bytes, max_items: int) -> Batch:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("cp1252", "replace")
    messages: list[list[str]] = []
    for seg in _ENDS.split(text):
        if not seg.strip():
            continue
        if seg[:3] in _ENVELOPE:
            continue
        if seg.startswith("MSH"):
            messages.append([seg])
        elif messages:
            messages[-1].append(seg)
        else:
            raise PayloadError(400, "The HL7 body has text before its first MSH segment")
    if len(messages) > max_items:
        raise PayloadError(413, f"The report has more than {max_items} items; send it in smaller batches")
    batch = Batch()
    for position, segments in enumerate(messages, start=1):
        msh = segments[0]
        if len(msh) < 8:
            batch.problems.append(ItemProblem(position, None, "MSH", "The MSH segment is incomplete"))
            continue
        fields = msh.split(msh[3])
        control = fields[9] if len(fields) > 9 and fields[9] else None
        form = canonical(segments)
        batch.items.append(Item(position, form, hashlib.sha256(form.encode("utf-8")).hexdigest(), control))
    return batch
