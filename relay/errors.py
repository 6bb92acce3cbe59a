"""One error tree for relay.

``RelayError`` is the root. ``TransientError`` means "try again later", ``PermanentError`` means a
person must act, and ``EnvironmentProblem`` is something about the machine (disk full, no keyring,
a damaged or read-only outbox) that is shown to the user as it is. Foreign exceptions are translated
at the boundary with ``raise ... from``; anything else is a bug.
"""

from __future__ import annotations


class RelayError(Exception):
    """Base of every error relay raises on purpose."""


class TransientError(RelayError):
    """A condition that may clear by itself; the operation is retried."""


class PermanentError(RelayError):
    """A condition that will not clear by retrying; a person must act."""


class EnvironmentProblem(RelayError):
    """Something about this machine prevents relay from working (shown to the user as is)."""


class ConfigError(PermanentError):
    """The configuration file is missing, unreadable or invalid. The message names file and key."""


class IllegalTransition(PermanentError):
    """An outbox state change that the state machine does not allow (a bug or a stale request)."""


class OutboxFull(EnvironmentProblem):
    """The outbox cannot take more data (disk full or size limit): callers must keep their data."""


class OutboxDamaged(EnvironmentProblem):
    """The outbox database failed its integrity check or is not a relay outbox."""


class OutboxGone(EnvironmentProblem):
    """The outbox file was deleted or replaced under a running agent: nothing may be acknowledged
    into it any more."""


class CredentialStoreUnavailable(EnvironmentProblem):
    """There is no secure credential store on this machine."""
