"""Per-student data keys, wrapped by a master key: the basis of crypto-shredding.

Every student gets a random 256-bit data key the first time an event of theirs is written. The
key is stored wrapped (AES-GCM) by the configured master key, committed *before* any event uses
it — so a crash can never leave events encrypted with a key that was not kept. Erasing a student
destroys the wrapped key; their events stay in the log but can never be read again. Rotating
the master key re-wraps the data keys and rewrites no event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_CACHE_SECONDS = 30.0


class StudentErasedError(LookupError):
    """The student's data key was destroyed: their events can no longer be read."""

    def __init__(self, originator_id: UUID) -> None:
        self.originator_id = originator_id
        super().__init__(f"student {originator_id} has been erased")


class MasterKeyError(ValueError):
    """The master key is malformed, or a data key is wrapped by a master key we do not have."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    key_id: str
    key: bytes

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError("MASTERY_MASTER_KEY must be base64") from None
        if len(key) != 32:
            raise MasterKeyError(f"MASTERY_MASTER_KEY must encode 32 bytes, not {len(key)}")
        return cls(hashlib.sha256(key).hexdigest()[:16], key)

    @staticmethod
    def generate() -> str:
        return base64.b64encode(os.urandom(32)).decode()

    def wrap(self, data_key: bytes, originator_id: UUID) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, data_key, originator_id.bytes)

    def unwrap(self, wrapped: bytes, originator_id: UUID) -> bytes:
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        return AESGCM(self.key).decrypt(nonce, sealed, originator_id.bytes)


class KeyRing:
    """Data keys by aggregate id, cached for ``KEY_CACHE_SECONDS`` in this process."""

    def __init__(
        self, database_url: str, master: MasterKey, previous: Iterable[MasterKey] = ()
    ) -> None:
        self.database_url = database_url
        self.master = master
        self.masters = {key.key_id: key for key in (master, *previous)}
        self._cache: dict[UUID, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    # --- writers ------------------------------------------------------------------------------

    def ensure(self, students: Mapping[UUID, str]) -> None:
        """Make sure every given student (aggregate id -> tenant) has a committed data key."""
        missing = [o for o in students if not self._cached(o)]
        if not missing:
            return
        fresh = {o: self.master.wrap(os.urandom(32), o) for o in missing}
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO student_keys (originator_id, tenant_id, wrapped_key, master_key_id) "
                "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::bytea[], %s::text[]) "
                "ON CONFLICT (originator_id) DO NOTHING",
                (
                    missing,
                    [students[o] for o in missing],
                    [fresh[o] for o in missing],
                    [self.master.key_id] * len(missing),
                ),
            )
            self._load(conn, missing)

    # --- readers ------------------------------------------------------------------------------

    def cipher_for(self, originator_id: UUID) -> AESGCM | None:
        """The student's cipher; None for a student without a key (legacy plaintext only)."""
        cached = self._cached(originator_id)
        if cached is None:
            with psycopg.connect(self.database_url) as conn:
                self._load(conn, [originator_id])
            cached = self._cached(originator_id)
        if cached is _ERASED:
            raise StudentErasedError(originator_id)
        return cached if isinstance(cached, AESGCM) else None

    def preload(self, conn: psycopg.Connection[Any], originators: Iterable[UUID]) -> None:
        """Load these students' keys in one query on the caller's connection, so that a scan
        over many students does not open a connection per student."""
        missing = [o for o in originators if self._cached(o) is None]
        if missing:
            self._load(conn, missing)

    # --- erasure and rotation ---------------------------------------------------------------

    def destroy(self, conn: psycopg.Connection[Any], originator_id: UUID, tenant_id: str) -> bool:
        """Destroy the student's key inside the caller's transaction; False if already gone."""
        row = conn.execute(
            "SELECT erased_at FROM student_keys WHERE originator_id = %s FOR UPDATE",
            (originator_id,),
        ).fetchone()
        if row is not None and row[0] is not None:
            return False
        conn.execute(
            "INSERT INTO student_keys "
            "(originator_id, tenant_id, wrapped_key, master_key_id, erased_at) "
            "VALUES (%s, %s, NULL, NULL, now()) ON CONFLICT (originator_id) DO UPDATE "
            "SET wrapped_key = NULL, master_key_id = NULL, erased_at = now()",
            (originator_id, tenant_id),
        )
        with self._lock:
            self._cache[originator_id] = (_ERASED, time.monotonic())
        return True

    def forget(self, originator_id: UUID) -> None:
        """Drop a cached key so the next use reads the database."""
        with self._lock:
            self._cache.pop(originator_id, None)

    def rotate(self) -> int:
        """Re-wrap every data key with the current master key; returns how many changed."""
        rotated = 0
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT originator_id, wrapped_key, master_key_id FROM student_keys "
                "WHERE wrapped_key IS NOT NULL AND master_key_id <> %s",
                (self.master.key_id,),
            ).fetchall()
            for originator_id, wrapped, key_id in rows:
                data_key = self._master(key_id).unwrap(bytes(wrapped), originator_id)
                conn.execute(
                    "UPDATE student_keys SET wrapped_key = %s, master_key_id = %s "
                    "WHERE originator_id = %s AND wrapped_key IS NOT NULL",
                    (self.master.wrap(data_key, originator_id), self.master.key_id, originator_id),
                )
                rotated += 1
        return rotated

    # --- cache --------------------------------------------------------------------------------

    def _cached(self, originator_id: UUID) -> AESGCM | object | None:
        entry = self._cache.get(originator_id)
        if entry is None or time.monotonic() - entry[1] > KEY_CACHE_SECONDS:
            return None
        cached: object = entry[0]
        return cached

    def _load(self, conn: psycopg.Connection[Any], originators: list[UUID]) -> None:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT originator_id, wrapped_key, master_key_id FROM student_keys "
            "WHERE originator_id = ANY(%s)",
            (originators,),
        ).fetchall()
        now = time.monotonic()
        found: dict[UUID, tuple[Any, float]] = {}
        for originator_id, wrapped, key_id in rows:
            if wrapped is None:
                found[originator_id] = (_ERASED, now)
            else:
                key = self._master(key_id).unwrap(bytes(wrapped), originator_id)
                found[originator_id] = (AESGCM(key), now)
        for originator_id in originators:
            found.setdefault(originator_id, (_NO_KEY, now))
        with self._lock:
            self._cache.update(found)

    def _master(self, key_id: str) -> MasterKey:
        try:
            return self.masters[key_id]
        except KeyError:
            raise MasterKeyError(
                f"a data key is wrapped by master key {key_id}, which is not configured "
                "(set MASTERY_PREVIOUS_MASTER_KEYS to finish a rotation)"
            ) from None


_ERASED = object()
_NO_KEY = object()
