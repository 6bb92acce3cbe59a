"""``s3://BUCKET/PREFIX``: one PutObject per batch (INTERFACE §9), to AWS S3 or an S3-compatible store.

The client is minio's (small: about a tenth of what boto3 adds to the frozen app, see
docs/benchmarks.md), used for signing and for its error parsing; relay sends exactly one PUT a
batch, never a multipart upload, with its own Content-MD5, so the store checks the bytes it got.
minio's own retries are off (urllib3 ``retries=False``): the sender decides when to try again.

Answers: 200 -> delivered (receipt: bucket, key, ETag, version id); 5xx, SlowDown, timeouts,
connection errors -> outcome unknown (the same name and bytes go again); rejected credentials
(AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch) -> pause as for 401; NoSuchBucket ->
pause with that reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import ssl
import threading
from typing import Any
from urllib.parse import quote, urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import genheaders
from minio.sse import Sse, SseKMS, SseS3

from relay.delivery.answers import Decision
from relay.delivery.destinations.base import (
    BAD_CREDENTIAL,
    OK,
    UNAVAILABLE,
    UNREACHABLE,
    WRONG,
    DestinationContext,
    ProbeResult,
    TrackingIds,
)
from relay.delivery.destinations.names import fields, render
from relay.delivery.wire import MAX_BODY_BYTES
from relay.destination_config import S3Config
from relay.errors import ConfigError
from relay.store.models import Batch

log = logging.getLogger("relay.delivery")

CREDENTIAL_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                              "InvalidToken", "InvalidSecurity", "AllAccessDisabled"})
UNKNOWN_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "BadDigest",
                           "InvalidDigest", "IncompleteBody", "RequestTimeTooSkewed", "OperationAborted"})
REGION_CODES = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
                          "Redirect", "TemporaryRedirect"})
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
CREDENTIAL_HINT = "store the secret access key with `relay token set` or in Settings, and check intake.s3.access_key_id"


def _header_value(value: str) -> str:
    """Metadata travels in HTTP headers: anything outside printable ASCII is percent-encoded."""
    return value if value.isascii() and value.isprintable() else quote(value, safe=PRINTABLE_ASCII)


class S3Destination:
    formats = frozenset({"csv", "ndjson", "json", "hl7"})
    max_items: int | None = None

    def __init__(self, context: DestinationContext) -> None:
        self.context = context
        config = context.config
        s3 = config.intake.destination.s3
        if s3 is None:
            raise ConfigError(f"{config.source or 'the configuration'}: intake.s3: required for an s3:// intake.url")
        self.s3: S3Config = s3
        self.dest = config.intake.destination
        endpoint = s3.endpoint_url or f"https://s3.{s3.region}.amazonaws.com"
        parts = urlsplit(endpoint)
        self.secure = parts.scheme == "https"
        self.endpoint = parts.netloc
        self.where = f"s3://{s3.bucket}/{s3.prefix}" + ("" if s3.endpoint_url is None else f" at {parts.netloc}")
        timeout = config.intake.timeout_s
        pool: urllib3.PoolManager | None = context.extras.get("s3_http")
        if pool is None:
            tls = ssl.create_default_context(cafile=certifi.where())
            if config.intake.ca_file is not None:
                tls.load_verify_locations(cafile=str(config.intake.ca_file))
            pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=min(timeout, 30.0), read=timeout),
                                       retries=False, maxsize=max(2, config.intake.max_in_flight),
                                       ssl_context=tls)
        self.pool = pool
        self._minio: tuple[str, Minio] | None = None
        self._lock = threading.Lock()
        self.sse: Sse | None = None
        if s3.sse == "aws:kms":
            # minio's SseKMS always names a key; without one the bucket's default KMS key is used.
            self.sse = SseKMS(s3.kms_key_id, {}) if s3.kms_key_id else None
        elif s3.sse == "AES256":
            self.sse = SseS3()

    # -- the client ----------------------------------------------------------------------------

    def _client(self) -> Minio | None:
        """The client for the credential stored now. Kept while the credential stays the same: a
        dropped Minio clears the connection pool it was given (its __del__), which would cost the
        keep-alive connection at every batch."""
        secret = self.context.secret()
        if not secret:
            return None
        with self._lock:
            if self._minio is None or self._minio[0] != secret:
                self._minio = (secret, Minio(self.endpoint, access_key=self.s3.access_key_id, secret_key=secret,
                                             secure=self.secure, region=self.s3.region, http_client=self.pool))
            return self._minio[1]

    def object_name(self, batch: Batch) -> tuple[str, str]:
        """(full object key, the name after the prefix) of ``batch``."""
        values = fields(batch, sender=self.dest.sender, env=self.dest.env)
        name = render(self.s3.name_template, values)
        return self.s3.prefix + name, name

    def headers(self, batch: Batch, name: str) -> dict[str, Any]:
        values = {**fields(batch, sender=self.dest.sender, env=self.dest.env), "name": name}
        metadata: dict[str, Any] = {f"X-Amz-Meta-{k}": _header_value(render(v, values)) for k, v in self.s3.metadata}
        headers: dict[str, Any] = genheaders(metadata, self.sse, None, None, False)
        if self.s3.sse == "aws:kms" and self.sse is None:
            headers["X-Amz-Server-Side-Encryption"] = "aws:kms"
        headers["Content-Type"] = self.s3.content_type or batch.content_type
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(batch.body, usedforsecurity=False).digest()).decode()
        return headers

    # -- Destination ---------------------------------------------------------------------------

    def missing_credential(self) -> str | None:
        """The secret access key of intake.s3.access_key_id must be stored."""
        if self.context.secret():
            return None
        return "no S3 secret access key is stored: " + CREDENTIAL_HINT

    def deliver(self, batch: Batch, tracking_ids: TrackingIds) -> Decision:
        if len(batch.body) > MAX_BODY_BYTES:
            return Decision("split", None, f"the batch is larger than {MAX_BODY_BYTES} bytes")
        client = self._client()
        if client is None:
            return Decision("pause", None, "no S3 secret access key is stored: " + CREDENTIAL_HINT)
        key, name = self.object_name(batch)
        try:
            # One PutObject, whatever the size (put_object would switch to multipart over 5 MiB).
            result = client._put_object(self.s3.bucket, key, batch.body, self.headers(batch, name))
        except S3Error as exc:
            return self._decide_error(exc.code or "", exc.message or "", exc.response.status if exc.response else None)
        except ServerError as exc:
            return self._decide_error("", str(exc), exc.status_code)
        except InvalidResponseError as exc:
            return self._decide_error("", "a non-S3 answer", getattr(exc, "_code", None))
        except urllib3.exceptions.TimeoutError:
            return Decision("unknown", None, f"no answer from {self.where} within {self.context.config.intake.timeout_s:g} "
                                             "s; outcome unknown, the same object is written again")
        except urllib3.exceptions.SSLError as exc:
            return Decision("unknown", None, f"a secure connection to {self.endpoint} could not be made ({exc}); if "
                                             "its certificate comes from your organisation's own authority, set "
                                             "intake.ca_file; the same object is written again")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Decision("unknown", None, f"could not reach {self.endpoint} ({type(exc).__name__}); the same "
                                             "object is written again")
        except (MinioException, ValueError) as exc:  # a name or value minio refuses: a configuration matter
            return Decision("pause", None, f"cannot write to {self.where}: {exc}")
        receipt = {"bucket": self.s3.bucket, "key": key, "etag": result.etag, "version_id": result.version_id}
        log.info("batch %d written to s3 bucket %s (%d bytes)", batch.id, self.s3.bucket, len(batch.body))
        return Decision("delivered", 200, "delivered", receipt=json.dumps(receipt, separators=(",", ":")))

    def _decide_error(self, code: str, message: str, status: int | None) -> Decision:
        said = f"{code}: {message}" if code else message
        if code in CREDENTIAL_CODES or (not code and status in (401, 403)):
            return Decision("pause", status, f"the S3 store rejected relay's credentials ({said}): {CREDENTIAL_HINT}; "
                                             "AccessDenied may also mean the key may not write to this bucket, "
                                             "prefix or KMS key")
        if code == "NoSuchBucket":
            return Decision("pause", status, f"the bucket {self.s3.bucket!r} does not exist (NoSuchBucket): check "
                                             "intake.url, intake.s3.region and intake.s3.endpoint_url")
        if code in UNKNOWN_CODES or (status is not None and status >= 500):
            return Decision("unknown", status, f"the S3 store failed ({said}); outcome unknown, the same object is "
                                               "written again")
        if code == "EntityTooLarge":
            return Decision("split", status, f"the object was too large for the S3 store ({said})")
        if code in REGION_CODES:
            return Decision("pause", status, f"the bucket is not where relay looks ({said}): check intake.s3.region "
                                             "and intake.s3.endpoint_url")
        if code.startswith("KMS.") or "kms" in message.lower():
            return Decision("pause", status, f"the S3 store could not use the KMS key ({said}): check "
                                             "intake.s3.kms_key_id and the key's permissions")
        return Decision("pause", status, f"the S3 store refused the object ({said or status}): check the [intake.s3] "
                                         "settings")

    def probe(self) -> ProbeResult:
        """Lists at most one object under the prefix: no result is written."""
        client = self._client()
        if client is None:
            return ProbeResult(BAD_CREDENTIAL, "No S3 secret access key is stored; store it and test again.")
        try:
            next(iter(client.list_objects(self.s3.bucket, prefix=self.s3.prefix or None)), None)
        except S3Error as exc:
            status = exc.response.status if exc.response else None
            if exc.code == "AccessDenied":
                return ProbeResult(OK, f"Connected to {self.where}: the store knows the access key, but the key may "
                                       "not list the bucket. Senders that may only write objects (as AIMS senders) "
                                       "see this; the first delivery shows whether writing works.", status)
            if exc.code in CREDENTIAL_CODES:
                return ProbeResult(BAD_CREDENTIAL, f"{self.endpoint} rejected the credential ({exc.code}). Check the "
                                                   "access key id and store the secret access key again.", status)
            if exc.code == "NoSuchBucket":
                return ProbeResult(WRONG, f"There is no bucket {self.s3.bucket!r} at {self.endpoint}.", status)
            if status is not None and status >= 500 or exc.code in UNKNOWN_CODES:
                return ProbeResult(UNAVAILABLE, f"{self.endpoint} answered with an error ({exc.code}); relay keeps "
                                                "retrying when this happens.", status)
            return ProbeResult(WRONG, f"{self.endpoint} answered {exc.code}: {exc.message}", status)
        except (ServerError, InvalidResponseError) as exc:
            return ProbeResult(UNAVAILABLE, f"{self.endpoint} gave an answer that is not S3's: {exc}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return ProbeResult(UNREACHABLE, f"Could not reach {self.endpoint}: {type(exc).__name__}. Check the "
                                            "address and the network.")
        return ProbeResult(OK, f"Connected to {self.where}: the bucket is there and accepted the credential "
                               "(nothing was written).", 200)

    def close(self) -> None:
        with self._lock:
            self._minio = None
        self.pool.clear()
