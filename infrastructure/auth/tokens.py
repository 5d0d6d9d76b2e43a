"""API tokens (SPEC §7): verification with pinned algorithms, and minting for local use. What
a verified principal may read is ``infrastructure.auth.policy``.

A token is a JWT with ``sub``, ``role``, ``tenant``, ``exp`` (required) and optional
``students`` / ``classes`` lists. Which algorithms are accepted follows from the configured
keys only: HS256 with ``MASTERY_JWT_SECRET``; RS256 or ES256 (by the key's type) with
``MASTERY_JWT_PUBLIC_KEY``. The key is chosen by the algorithm, never the other way round, so a
token signed with HS256 using the public key as secret is refused like ``alg: none``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from domain.identifiers import check_identifier, check_tenant
from infrastructure.auth.policy import ROLES, Principal, Role
from infrastructure.settings import ConfigurationError, Settings

MAX_LIST_CLAIM = 10_000
VERIFIED_CACHE_SIZE = 10_000
NUMERIC_DATES = ("exp", "iat", "nbf")
MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z


class InvalidTokenError(Exception):
    """No usable token; the message is safe to show (it never contains the token)."""


@dataclass(frozen=True, slots=True)
class TokenVerifier:
    keys: dict[str, Any]  # algorithm -> verification key
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    _verified: OrderedDict[str, tuple[Principal, float]] = field(
        default_factory=OrderedDict, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        keys: dict[str, Any] = {}
        if settings.jwt_secret:
            keys["HS256"] = settings.jwt_secret
        if settings.jwt_public_key:
            algorithm, key = _public_key(settings.jwt_public_key)
            keys[algorithm] = key
        if not keys:
            raise ConfigurationError(
                "the API needs MASTERY_JWT_SECRET or MASTERY_JWT_PUBLIC_KEY to verify tokens"
            )
        return cls(keys, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds)

    def verify(self, token: str) -> Principal:
        """The token's principal; a token verified before is taken from a small cache until
        its ``exp`` (plus leeway) passes, so dashboards polling with one token pay once."""
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        principal, expires = self._verify(token)
        self._verified[token] = (principal, expires + self.leeway_seconds)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:
            raise InvalidTokenError("malformed token") from None
        if not isinstance(algorithm, str) or algorithm not in self.keys:
            raise InvalidTokenError(f"algorithm {algorithm!r} is not accepted")
        required = ["exp", "sub", "role", "tenant"]
        if self.issuer:
            required.append("iss")
        try:
            claims = jwt.decode(
                token,
                self.keys[algorithm],
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_seconds,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidTokenError(f"invalid token: {type(exc).__name__}") from None
        for name in NUMERIC_DATES:
            _check_numeric_date(name, claims.get(name))
        return principal_from_claims(claims), float(claims["exp"])


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal the claims name; a claim of the wrong type or value is an invalid token
    (a signature proves who wrote the claims, not that they make sense)."""
    subject, role, tenant = claims.get("sub"), claims.get("role"), claims.get("tenant")
    if not isinstance(subject, str) or not subject or len(subject) > 256:
        raise InvalidTokenError("claim sub must be a non-empty string of at most 256 characters")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidTokenError(f"claim role must be one of {', '.join(Role)}")
    if not isinstance(tenant, str):
        raise InvalidTokenError("claim tenant must be a string")
    try:
        check_tenant(tenant)
    except ValueError as exc:
        raise InvalidTokenError(f"claim tenant: {exc}") from None
    students = _identifiers("students", "student", claims.get("students"))
    classes = _identifiers("classes", "class", claims.get("classes"))
    return Principal(subject, Role(role), tenant, students, classes)


def _check_numeric_date(name: str, value: object) -> None:
    """A NumericDate claim (RFC 7519) is a number of seconds; PyJWT also takes strings such as
    ``"1796012445"`` and integers too large for a float, which the product does not."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE
    ):
        raise InvalidTokenError(
            f"claim {name} must be a number of seconds since 1970 before the year 10000"
        )


def _identifiers(claim: str, kind: str, value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > MAX_LIST_CLAIM:
        raise InvalidTokenError(f"claim {claim} must be a list of at most {MAX_LIST_CLAIM} ids")
    if not all(isinstance(item, str) for item in value):
        raise InvalidTokenError(f"claim {claim} must hold strings only")
    try:
        return frozenset(check_identifier(kind, item) for item in value)
    except ValueError as exc:
        raise InvalidTokenError(f"claim {claim}: {exc}") from None


def _public_key(pem: str) -> tuple[str, Any]:
    try:
        key = load_pem_public_key(pem.replace("\\n", "\n").encode())
    except ValueError:
        raise ConfigurationError("MASTERY_JWT_PUBLIC_KEY is not a PEM public key") from None
    if isinstance(key, RSAPublicKey):
        return "RS256", key
    if isinstance(key, EllipticCurvePublicKey):
        return "ES256", key
    raise ConfigurationError("MASTERY_JWT_PUBLIC_KEY must be an RSA or EC (P-256) public key")


def mint_token(
    *,
    role: Role,
    subject: str,
    tenant_id: str,
    key: Any,
    algorithm: str = "HS256",
    students: Iterable[str] = (),
    classes: Iterable[str] = (),
    ttl: timedelta = timedelta(hours=1),
    issuer: str | None = None,
    audience: str | None = None,
    now: datetime | None = None,
) -> str:
    """A signed token (for local use and tests); the claims are checked as ``verify`` would."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role.value,
        "tenant": tenant_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    if students:
        claims["students"] = sorted(students)
    if classes:
        claims["classes"] = sorted(classes)
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    principal_from_claims(claims)
    return jwt.encode(claims, key, algorithm=algorithm)
