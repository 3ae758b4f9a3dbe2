"""Pseudonymising personal data before it reaches the audit log or a server log.

Raw message texts, email domains, IPs, device ids and payment instrument ids never leave the
online store (which needs them to compute features). Where a record or a log line must still
refer to one, it carries :func:`pseudonym`: ``"h:"`` and the first 16 hex digits of the
HMAC-SHA256 of the value under ``settings.pii_key`` (``SCAMGUARD_PII_KEY``). The same value always
gives the same pseudonym, so an analyst holding the key can check whether a record mentions a
given IP (``scamguard pseudonym 203.0.113.7``) or whether two records share a device, while
someone reading the log without the key learns nothing (a plain hash of an IPv4 address would
be reversed by trying all 2^32).

User ids, event ids, event types, times, amounts, scores and feature values are not personal
data here and are kept as they are: an analyst finds a decision by user id and time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "h:"
DIGEST_HEX = 16  # 64 bits: no collisions in practice among one platform's identifiers

# Fields of an event (scamguard.events) that hold personal data or free text.
PERSONAL_FIELDS: frozenset[str] = frozenset(
    {
        "ip",
        "device_id",
        "email_domain",
        "instrument_id",
        "text",
        "profile_text",
        "title",
        "description",
        "cover_text",
    }
)


def pseudonym(value: object, key: str) -> str | None:
    """``"h:<16 hex>"``, the keyed hash (HMAC-SHA256 under ``key``) of ``str(value)``; None stays
    None."""
    if value is None:
        return None
    digest = hmac.new(key.encode(), str(value).encode("utf-8", "surrogatepass"), hashlib.sha256)
    return PREFIX + digest.hexdigest()[:DIGEST_HEX]


def pseudonymise(
    record: Mapping[str, Any], key: str, fields: Iterable[str] = PERSONAL_FIELDS
) -> dict[str, Any]:
    """A copy of ``record`` with the values of ``fields`` replaced by their pseudonyms."""
    personal = frozenset(fields)
    return {k: pseudonym(v, key) if k in personal else v for k, v in record.items()}
