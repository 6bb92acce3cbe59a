"""CSV rows -> HL7 v2.5.1 ELR messages (ORU^R01), checked as they are built.

``ElrTranslator(header, ElrSettings(...)).translate(values, tracking_id=..., content_hash=..., now=...)``
returns the message text (segments separated by CR) or raises ``NotTranslatable`` with a reason.
"""

from relay.formats.elr.hl7text import NotTranslatable, escape
from relay.formats.elr.message import PROFILE, SEGMENT_SEP, ElrSettings, ElrTranslator, control_id

__all__ = ["PROFILE", "SEGMENT_SEP", "ElrSettings", "ElrTranslator", "NotTranslatable", "control_id", "escape"]
