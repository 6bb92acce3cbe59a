"""An HL7 v2 message in words, for the window's detail pane and export: the patient, order and
result fields a person looks for (PID, OBR, OBX, SPM), then every segment as it is. Patient data:
shown to the person at the screen, never logged."""

from __future__ import annotations

FIELDS = [  # (label, segment, field number, component number or 0 for the whole field)
    ("Message type", "MSH", 9, 0), ("Control id (MSH-10)", "MSH", 10, 0), ("Sent at", "MSH", 7, 0),
    ("Sending facility", "MSH", 4, 1), ("Patient id", "PID", 3, 1), ("Patient family name", "PID", 5, 1),
    ("Patient given name", "PID", 5, 2), ("Birth date", "PID", 7, 0), ("Sex", "PID", 8, 0),
    ("Ordering provider", "OBR", 16, 2), ("Test ordered", "OBR", 4, 2), ("Specimen collected", "OBR", 7, 0),
    ("Specimen", "SPM", 4, 2),
]


def _split(message: str) -> tuple[list[list[str]], str, str]:
    segments = [s for s in message.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 5:
        return [s.split("|") for s in segments], "|", "^"
    fs = segments[0][3]
    comp = segments[0][4]
    rows = []
    for seg in segments:
        fields = seg.split(fs)
        if fields[0] == "MSH":  # MSH-1 is the separator itself: number fields as HL7 does
            fields = ["MSH", fs, *fields[1:]]
        rows.append(fields)
    return rows, fs, comp


def _value(fields: list[str], number: int, component: int, comp: str) -> str:
    if len(fields) <= number:
        return ""
    value = fields[number]
    if component:
        parts = value.split(comp)
        value = parts[component - 1] if len(parts) >= component else ""
    return value


def hl7_fields(message: str) -> list[tuple[str, str]]:
    """(label, value) pairs: the main fields, one line per result (OBX), then each segment."""
    rows, fs, comp = _split(message)
    first: dict[str, list[str]] = {}
    for fields in rows:
        first.setdefault(fields[0], fields)
    out = []
    for label, seg, number, component in FIELDS:
        if seg in first:
            value = _value(first[seg], number, component, comp)
            if value:
                out.append((label, value))
    for fields in rows:
        if fields[0] == "OBX":
            test = _value(fields, 3, 2, comp) or _value(fields, 3, 1, comp)
            result = _value(fields, 5, 2, comp) or _value(fields, 5, 1, comp)
            units = _value(fields, 6, 1, comp)
            flag = _value(fields, 8, 1, comp)
            text = " ".join(p for p in (result, units, f"({flag})" if flag else "") if p)
            out.append((f"Result: {test}" if test else "Result", text))
    for i, fields in enumerate(rows, start=1):
        out.append((f"Segment {i} {fields[0]}", fs.join(fields[2:] if fields[0] == "MSH" else fields[1:])))
    return out
