"""API tokens and station passwords, hashed at rest: scrypt, or a salted HMAC for generated secrets.

A token reads ``vpps_<id>_<secret>``: the id finds its row, the secret is checked against the
row's scrypt hash (``scrypt$n$r$p$salt$hash``, so the cost can be raised later for new hashes).

A secret the service generated itself (a station password ``POST /stations`` made, 192 random
bits) is stored as ``hmac-sha256$salt$hash`` (:func:`hash_generated`) instead. A slow hash such as
scrypt protects guessable secrets (a person's password) from guessing by making each guess cost;
against 2**192 possibilities guessing is hopeless at any speed, so the cost buys nothing and the
salt alone is enough (no two rows alike, no precomputed tables). What it costs: every station is
checked at every connection and a fleet reconnects at once after a restart; scrypt at 2**11 is
~7 ms of CPU a check (500 stations: 3.5 s competing with the answers), the HMAC a few microseconds.
A password an operator chose keeps scrypt, and :func:`verify_secret` reads both formats.
Scopes are ordered: ``read`` < ``plan`` < ``admin``; a token may do what its scope and every
lower scope allow. A verified secret is remembered in memory (its SHA-256 only) for this process,
so a busy client does not pay the scrypt cost on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpp_sched.service.db import ApiToken, AuditEntry, utcnow

SCOPES = ("read", "plan", "admin")
TOKEN_PREFIX = "vpps"
_R, _P = 8, 1               # scrypt block size and parallelism [-]
_SALT_BYTES = 16
_HMAC = "hmac-sha256"


def hash_secret(secret: str, n: int = 2**14) -> str:
    """``scrypt$n$r$p$salt$hash`` of ``secret`` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=_R, p=_P, maxmem=2**26)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def generate_secret() -> str:
    """A new random secret of 192 bits: 32 URL-safe characters (an OCPP 2.0.1 password has 16-40)."""
    return secrets.token_urlsafe(24)


def hash_generated(secret: str) -> str:
    """``hmac-sha256$salt$hash`` of a secret from :func:`generate_secret` (never of a chosen one: the
    module docstring says why this is sound only for random secrets)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"{_HMAC}${_b64(salt)}${_b64(hmac.digest(salt, secret.encode(), 'sha256'))}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches a :func:`hash_secret` or :func:`hash_generated` string (constant-time
    comparison)."""
    try:
        kind, *fields = stored.split("$")
        if kind == _HMAC:
            salt, digest = fields
            return hmac.compare_digest(hmac.digest(_unb64(salt), secret.encode(), "sha256"), _unb64(digest))
        if kind != "scrypt":
            return False
        n, r, p, salt, digest = fields
        got = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), maxmem=2**26)
        return hmac.compare_digest(got, _unb64(digest))
    except (ValueError, TypeError):
        return False


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def scope_allows(have: str, need: str) -> bool:
    return SCOPES.index(have) >= SCOPES.index(need)


def create_token(db: Session, scope: str, name: str = "", n: int = 2**14, actor: str = "cli") -> str:
    """Store a new token's hash and return the token (shown once; it cannot be recovered)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(24)
    db.add(ApiToken(id=token_id, name=name, scope=scope, secret_hash=hash_secret(secret, n)))
    db.add(AuditEntry(actor=actor, action="token.create", target=f"token:{token_id}",
                      detail={"scope": scope, "name": name}))
    db.commit()
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


class Verifier:
    """Checks credentials against their stored hashes, remembering the ones already verified."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}   # sha256(credential) -> what it verified as
        self._lock = threading.Lock()

    def remembered(self, credential: str) -> str | None:
        with self._lock:
            return self._known.get(hashlib.sha256(credential.encode()).hexdigest())

    def remember(self, credential: str, value: str) -> None:
        with self._lock:
            self._known[hashlib.sha256(credential.encode()).hexdigest()] = value

    def forget_all(self) -> None:
        with self._lock:
            self._known.clear()

    def token(self, db: Session, token: str) -> tuple[str, str] | None:
        """``(token id, scope)`` of a valid, unrevoked token, else ``None``."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            return None
        row = db.get(ApiToken, parts[1])
        if row is None or row.revoked_at is not None:
            return None
        if self.remembered(token) == row.id or verify_secret(parts[2], row.secret_hash):
            self.remember(token, row.id)
            return row.id, row.scope
        return None


def revoke_token(db: Session, token_id: str, actor: str) -> bool:
    row = db.scalars(select(ApiToken).where(ApiToken.id == token_id)).first()
    if row is None:
        return False
    row.revoked_at = utcnow()
    db.add(AuditEntry(actor=actor, action="token.revoke", target=f"token:{token_id}"))
    db.commit()
    return True
