"""Who and what a statement is about, as identifiers of SPEC §3: the student from the actor,
the topic from the activity's IRI, the class from the context.

Every function returns a valid identifier (1-128 characters of ``[A-Za-z0-9._-]``) or None,
whatever text the statement holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from infrastructure.xapi.statement import context_activities

_OUTSIDE = re.compile(r"[^A-Za-z0-9._-]+")
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
DIGEST_CHARS = 40


def student_of(actor: dict[str, Any]) -> str | None:
    """The account name when it is already a valid id; else a digest of the identifier.

    ``mbox`` and ``mbox_sha1sum`` give the same student for the same address (the digest of
    ``mailto:address`` is what ``mbox_sha1sum`` holds). An anonymous group names no student.
    """
    account = actor.get("account")
    if account is not None:
        name: str = account["name"]
        if _VALID.match(name):
            return name
        return "account-" + _digest(f"{account['homePage']}|{name}")
    if "mbox" in actor:
        return "sha1-" + hashlib.sha1(actor["mbox"].encode()).hexdigest()  # noqa: S324 - xAPI's
    if "mbox_sha1sum" in actor:
        return "sha1-" + str(actor["mbox_sha1sum"]).lower()
    if "openid" in actor:
        return "openid-" + _digest(actor["openid"])
    return None


@lru_cache(maxsize=1 << 16)  # activities recur: a course has far fewer than its statements
def topic_of(iri: str, segments: int, max_length: int) -> str:
    """A readable topic from an activity IRI: its last ``segments`` path segments (the host
    when the path has none; the query and fragment count as segments), each reduced to the
    identifier alphabet and joined by ``.``. Longer than ``max_length``: cut, with a digest
    of the whole IRI appended so different long IRIs stay different topics."""
    parts = _segments(iri)
    words = [word for word in (sanitize(part) for part in parts) if word]
    topic = ".".join(words[-segments:]) or "activity-" + _digest(iri)[:12]
    if len(topic) > max_length:
        suffix = "-" + _digest(iri)[:8]
        topic = topic[: max_length - len(suffix)].rstrip(".-") + suffix
    return topic


def class_of(
    context: dict[str, Any], extension: str, activity_types: Sequence[str], kinds: Sequence[str]
) -> str | None:
    """The class: the context extension ``extension`` when it holds a string, else the first
    context activity of ``kinds`` (e.g. grouping, parent) whose type is one of
    ``activity_types``; its id is reduced as a topic's last segment is."""
    value = context.get("extensions", {}).get(extension)
    if isinstance(value, str) and (named := sanitize(value)[:128]):
        return named
    for kind in kinds:
        for activity in context_activities(context, kind):
            if activity.get("definition", {}).get("type") in activity_types:
                return topic_of(activity["id"], 1, 128)
    return None


def sanitize(text: str) -> str:
    """``text`` in the identifier alphabet: other characters become ``-``, runs collapse."""
    return _OUTSIDE.sub("-", text).strip(".-")


def _segments(iri: str) -> list[str]:
    parts = urlsplit(iri)
    if parts.netloc or parts.path.startswith("/"):
        path = [segment for segment in parts.path.split("/") if segment]
        segments = path or [parts.netloc]
    else:  # urn:..., tag:...: the part after the scheme, split at colons
        segments = [segment for segment in parts.path.split(":") if segment]
    return segments + [extra for extra in (parts.query, parts.fragment) if extra]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]
