"""Bearer-token authentication of a request; the policy itself is infrastructure.auth.policy."""

from __future__ import annotations

from starlette.requests import Request

from api.http.problems import unauthorized
from infrastructure.auth.policy import Principal
from infrastructure.auth.tokens import InvalidTokenError, TokenVerifier

MAX_TOKEN_BYTES = 8192


def authenticate(request: Request, verifier: TokenVerifier) -> Principal:
    """The verified principal of ``Authorization: Bearer <JWT>``, or a 401 problem."""
    header = request.headers.get("authorization")
    if header is None:
        raise unauthorized("an Authorization: Bearer token is required")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_BYTES:
        raise unauthorized("the token is too large")
    try:
        return verifier.verify(token.strip())
    except InvalidTokenError as exc:
        raise unauthorized(str(exc)) from None
