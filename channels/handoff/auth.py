"""Who is calling: agents carry a JWT (HS256), customers an opaque token bound
to their conversation."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from channels.handoff.errors import Forbidden, Unauthorized

ROLES = ("agent", "trainer", "supervisor", "admin")
DEFAULT_TOKEN_TTL_S = 12 * 3600
DEV_SECRET_FILE = Path(".handoff") / "jwt-secret"
SECRET_ENV = "HANDOFF_JWT_SECRET"


@dataclass(frozen=True)
class AgentIdentity:
    """An authenticated agent, as its token says."""

    id: str
    name: str
    role: str

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def require(self, role: str) -> None:
        if not self.at_least(role):
            raise Forbidden("forbidden_role", f"This needs the role {role!r}; you are {self.role!r}.")

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "role": self.role}


def mint_agent_token(
    secret: str, agent_id: str, name: str | None = None, role: str = "agent", ttl_s: int = DEFAULT_TOKEN_TTL_S
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    now = int(time.time())
    claims = {"sub": agent_id, "name": name or agent_id, "role": role, "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_agent_token(secret: str, token: str) -> AgentIdentity:
    """Decodes and checks an agent token; raises Unauthorized on any fault. A token
    already verified is not decoded again (until it expires): an agent's console
    sends the same one with every request."""
    identity, expires = _verified(secret, hashlib.sha256(token.encode()).digest(), token)
    if expires <= time.time():
        raise Unauthorized("token_expired", "The agent token has expired.")
    return identity


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, digest: bytes, token: str) -> tuple[AgentIdentity, float]:
    """The identity a valid token names and when it expires (refusals are not cached).
    `digest` is the cache's key, so a lookup never compares tokens themselves."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as expired:
        raise Unauthorized("token_expired", "The agent token has expired.") from expired
    except jwt.PyJWTError as invalid:
        raise Unauthorized("invalid_token", "The agent token is not valid.") from invalid
    role = claims.get("role", "agent")
    agent_id = claims.get("sub")
    if role not in ROLES or not isinstance(agent_id, str) or not agent_id:
        raise Unauthorized("invalid_token", "The agent token names no valid agent or role.")
    return AgentIdentity(agent_id, str(claims.get("name") or agent_id), role), float(claims["exp"])


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("invalid_authorization", "Use the header 'Authorization: Bearer <token>'.")
    return token.strip()


def new_customer_token(sender: str) -> str:
    """A fresh customer token that names its sender: b64url(sender).random."""
    encoded = base64.urlsafe_b64encode(sender.encode()).decode().rstrip("=")
    return f"{encoded}.{secrets.token_urlsafe(24)}"


def sender_of_customer_token(token: str) -> str:
    encoded, dot, _ = token.partition(".")
    try:
        if not dot:
            raise ValueError("no separator")
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as malformed:
        raise Unauthorized("invalid_token", "The customer token is malformed.") from malformed


def resolve_jwt_secret(configured: str | None = None, root: Path | None = None) -> str:
    """The agents' signing secret: configured, else $HANDOFF_JWT_SECRET, else a
    development secret made once and kept in .handoff/jwt-secret (git-ignored)."""
    if configured:
        return configured
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = (root or Path.cwd()) / DEV_SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
