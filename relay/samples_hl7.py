"""Generated HL7 v2.5.1 ELR messages (ORU^R01) for the demo, tests and benchmarks.

Their shape follows the public sample files of ReportStream (FHS/BHS batches of MSH, SFT, PID,
ORC, OBR, OBX with ask-at-order-entry answers, SPM; CR separators); every person, place and
number in them is made up from the seed.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

SENDER = "Demo Lab, Springfield^2.16.840.1.113883.3.9999.1^ISO"
FACILITIES = [("Lakeside Clinic", "05D9990001"), ("Northgate Testing Site", "05D9990002"),
              ("Riverbend Pharmacy", "05D9990003")]
FAMILY = ["Testperson", "Sample", "Example", "Demo", "Placeholder", "Fictional"]
GIVEN = ["Alex", "Jordan", "Sam", "Casey", "Robin", "Morgan", "Jamie", "Riley"]
RESULTS = [("260373001", "Detected", "A^Abnormal"), ("260415000", "Not detected", "N^Normal"),
           ("455371000124106", "Invalid result", "")]
TESTS = [("94558-4", "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by Rapid immunoassay"),
         ("94500-6", "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA with probe detection"),
         ("80382-5", "Influenza virus A Ag [Presence] in Upper respiratory specimen by Rapid immunoassay")]
AOE = [("95418-0", "Whether patient is employed in a healthcare setting"),
       ("95417-2", "First test for condition of interest"),
       ("95421-4", "Resides in a congregate care setting"),
       ("95419-8", "Has symptoms related to condition of interest")]
BASE = datetime(2026, 3, 2, 8, 0, 0)


def message(n: int, *, seed: int = 1, control_id: str | None = None, sent_at: datetime | None = None) -> str:
    """Message ``n`` (segments joined by CR, no trailing CR). The same n and seed give the same
    result; ``control_id`` and ``sent_at`` change only MSH-10 and MSH-7 (a resend)."""
    rng = random.Random(seed * 1_000_003 + n)
    facility, clia = rng.choice(FACILITIES)
    family, given = rng.choice(FAMILY), rng.choice(GIVEN)
    code, text, flag = rng.choice(RESULTS)
    loinc, test = rng.choice(TESTS)
    collected = (BASE + timedelta(minutes=n)).strftime("%Y%m%d%H%M%S") + "-0500"
    born = f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    order = str(uuid.UUID(int=rng.getrandbits(128)))
    patient = str(uuid.UUID(int=rng.getrandbits(128)))
    sent = (sent_at or BASE + timedelta(minutes=n, seconds=30)).strftime("%Y%m%d%H%M%S")
    control = control_id or f"{seed}-{n}"
    segments = [
        f"MSH|^~\\&|{SENDER}|{facility}^{clia}^CLIA|RELAY_DEMO|Demo Intake|{sent}||ORU^R01^ORU_R01|{control}|P|2.5.1"
        f"|||NE|NE|USA||||PHLabReportNoAck^ELR_Receiver^2.16.840.1.113883.9.11^ISO",
        "SFT|Demo Software Vendor|1.0|relay demo|1.0||20260301",
        f"PID|1||{patient}^^^{facility}^PI||{family}^{given}^^^^^L||{born}|{rng.choice('FMU')}||"
        f"2106-3^White^HL70005^^^^2.5.1|{rng.randint(1, 999)} Example Street^^Springfield^IL^62701^^^^17167||"
        f"^PRN^PH^^1^217^555{rng.randint(1000, 9999)}|||||||||N^Not Hispanic or Latino^HL70189",
        f"ORC|RE|{order}|{order}|||||||||1234567893^Doctor^Demo^^^^^^CMS&2.16.840.1.113883.3.249&ISO^^^^NPI"
        f"||^WPN^PH^^1^217^5550100|{collected[:8]}||||||{facility}|1 Clinic Road^^Springfield^IL^62701",
        f"OBR|1|{order}|{order}|{loinc}^{test}^LN|||{collected}|||||||||1234567893^Doctor^Demo^^^^^^"
        f"CMS&2.16.840.1.113883.3.249&ISO^^^^NPI||||||{collected}|||F",
        f"OBX|1|CWE|{loinc}^{test}^LN||{code}^{text}^SCT|||{flag}|||F|||{collected}|||"
        f"Demo Rapid Test_Demo Maker_EUA^^99ELR||{collected}||||{facility}^^^^^CLIA&2.16.840.1.113883.4.7&ISO^^^^{clia}",
    ]
    for i, (aoe_code, aoe_text) in enumerate(rng.sample(AOE, 2), start=2):
        answer = rng.choice(["Y^Yes", "N^No"])
        segments.append(f"OBX|{i}|CWE|{aoe_code}^{aoe_text}^LN^^^^2.69||{answer}^HL70136||||||F|||{collected}"
                        "|||||||||||||||QST")
    segments.append(f"SPM|1|{order}||258500001^Nasopharyngeal swab^SCT||||71836000^Nasopharyngeal structure "
                    f"(body structure)^SCT^^^^2020-09-01|||||||||{collected}|{collected}")
    return "\r".join(segments)


def batch(messages: list[str], *, batch_id: str = "demo-batch-1", sent_at: str = "20260302080000") -> str:
    """An FHS/BHS batch of ``messages``, segments ended by CR, as ReportStream's sample files are."""
    head = f"|^~\\&|{SENDER}|{SENDER}|||{sent_at}||||{batch_id}"
    parts = [f"FHS{head}", f"BHS{head}", *messages, f"BTS|{len(messages)}", "FTS|1"]
    return "\r".join(parts) + "\r"


def frame(text: str) -> bytes:
    """One MLLP frame of ``text`` (UTF-8)."""
    return b"\x0b" + text.encode("utf-8") + b"\x1c\r"
