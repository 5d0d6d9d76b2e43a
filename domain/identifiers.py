"""Identifier rules of SPEC §3: for the contract and for every id that reaches a key or query."""

from __future__ import annotations

import re

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_TENANT = re.compile(TENANT_PATTERN)


def check_identifier(kind: str, value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{kind} id must be 1-128 characters of A-Z a-z 0-9 . _ -, got {value!r}")
    return value


def check_tenant(value: str) -> str:
    if not _TENANT.fullmatch(value):
        raise ValueError(
            "tenant id must be 1-63 characters of a-z 0-9 -, starting with a letter or digit,"
            f" got {value!r}"
        )
    return value
