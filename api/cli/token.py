from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from api.cli.common import (
    EXIT_USAGE,
    base_url,
    command_settings,
    dashboard_link,
    fail,
    os_error,
    print_unwrapped,
    readable_file,
    reported_errors,
)
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import InvalidTokenError, mint_token
from infrastructure.settings import Settings


def token(
    role: Annotated[Role, typer.Option(help="Role of the token.")],
    sub: Annotated[str, typer.Option(help="Subject: the user (a student's own student id).")],
    tenant: Annotated[str, typer.Option(help="Tenant the token is confined to.")] = "default",
    students: Annotated[
        list[str] | None, typer.Option("--students", help="A student a teacher may read (repeat).")
    ] = None,
    classes: Annotated[
        list[str] | None, typer.Option("--classes", help="A class a teacher may read (repeat).")
    ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=1, max=366 * 86400)] = 3600,
    private_key: Annotated[
        Path | None,
        typer.Option(
            parser=readable_file,
            metavar="FILE",
            help="PEM private key for RS256/ES256; default: HS256 with MASTERY_JWT_SECRET.",
        ),
    ] = None,
    dashboard: Annotated[
        bool,
        typer.Option(
            "--dashboard-link",
            help="Print a link that opens the dashboard signed in with the token, on "
            "MASTERY_HTTP_HOST and MASTERY_HTTP_PORT.",
        ),
    ] = False,
) -> None:
    """Mint a JWT for local use (signed with MASTERY_JWT_SECRET, or --private-key)."""
    with reported_errors():
        settings = command_settings()
        key, algorithm = _signing_key(settings, private_key)
        try:
            minted = mint_token(
                role=role,
                subject=sub,
                tenant_id=tenant,
                key=key,
                algorithm=algorithm,
                students=_split(students),
                classes=_split(classes),
                ttl=timedelta(seconds=ttl),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        except InvalidTokenError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    if dashboard:
        minted = dashboard_link(base_url(settings.http_host, settings.http_port), minted)
    print_unwrapped(minted)


def _signing_key(settings: Settings, private_key: Path | None) -> tuple[Any, str]:
    if private_key is None:
        if not settings.jwt_secret:
            raise fail("MASTERY_JWT_SECRET is not set (or pass --private-key)", EXIT_USAGE)
        return settings.jwt_secret, "HS256"
    try:
        key = load_pem_private_key(private_key.read_bytes(), password=None)
    except OSError as exc:
        raise fail(f"--private-key {os_error(exc)}", EXIT_USAGE) from None
    except (ValueError, TypeError):
        raise fail(
            f"--private-key {private_key}: not an unencrypted PEM private key", EXIT_USAGE
        ) from None
    if isinstance(key, EllipticCurvePrivateKey) and isinstance(key.curve, SECP256R1):
        return key, "ES256"
    if isinstance(key, RSAPrivateKey):
        return key, "RS256"
    raise fail(f"--private-key {private_key}: must be an RSA or EC (P-256) key", EXIT_USAGE)


def _split(values: list[str] | None) -> list[str]:
    """Repeated options, each possibly comma-separated."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
