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
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import StudentErasedError

log = logging.getLogger(__name__)

NONCE_BYTES = 12
KEY_CACHE_SECONDS = 30.0
UNTOLD_CACHE_SECONDS = 1.0  # while this process does not hear erasures (see ErasureListener)
ERASURE_CHANNEL = "mastery_erasures"  # erase_student NOTIFYs the aggregate id on commit


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
    """Data keys by aggregate id, cached in this process: for ``KEY_CACHE_SECONDS`` while its
    ``ErasureListener`` hears every erasure (a heard erasure drops the key at once), for
    ``UNTOLD_CACHE_SECONDS`` while it does not (starting, or its connection lost)."""

    def __init__(
        self, database_url: str, master: MasterKey, previous: Iterable[MasterKey] = ()
    ) -> None:
        self.database_url = database_url
        self.master = master
        self.masters = {key.key_id: key for key in (master, *previous)}
        self._cache: dict[UUID, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self._listening_since: float | None = None
        self.listener = ErasureListener(self)

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

    def told_erased(self, originator_id: UUID) -> None:
        """Another process erased this student: their key must not be used from now on."""
        with self._lock:
            self._cache[originator_id] = (_ERASED, time.monotonic())

    def listening(self, since: float | None) -> None:
        """The listener (re)started hearing erasures at ``since``, or stopped (None). Keys
        cached before it started may have missed an erasure: they are forgotten."""
        with self._lock:
            if since is not None:
                self._cache.clear()
            self._listening_since = since

    def close(self) -> None:
        self.listener.stop()

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
        self.listener.start()
        entry = self._cache.get(originator_id)
        if entry is None:
            return None
        since = self._listening_since
        heard = since is not None and entry[1] >= since
        if time.monotonic() - entry[1] > (KEY_CACHE_SECONDS if heard else UNTOLD_CACHE_SECONDS):
            return None
        cached: object = entry[0]
        return cached

    def _load(self, conn: psycopg.Connection[Any], originators: list[UUID]) -> None:
        now = time.monotonic()
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT originator_id, wrapped_key, master_key_id FROM student_keys "
            "WHERE originator_id = ANY(%s)",
            (originators,),
        ).fetchall()
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
            for originator_id, entry in found.items():
                if not self._heard_erased_since(originator_id, now):
                    self._cache[originator_id] = entry

    def _heard_erased_since(self, originator_id: UUID, moment: float) -> bool:
        """Whether an erasure of the student was heard after ``moment`` (a read begun before
        it may hold the key that erasure destroyed)."""
        entry = self._cache.get(originator_id)
        return entry is not None and entry[0] is _ERASED and entry[1] >= moment

    def _master(self, key_id: str) -> MasterKey:
        try:
            return self.masters[key_id]
        except KeyError:
            raise MasterKeyError(
                f"a data key is wrapped by master key {key_id}, which is not configured "
                "(set MASTERY_PREVIOUS_MASTER_KEYS to finish a rotation)"
            ) from None


class ErasureListener:
    """Hears ``erase_student``'s NOTIFY on ``ERASURE_CHANNEL`` and tells the key ring at once,
    on a daemon thread with a connection of its own (started on the ring's first use). A lost
    connection is opened again with a capped backoff; meanwhile the ring trusts its cache
    for ``UNTOLD_CACHE_SECONDS`` only. The thread holds the ring weakly and ends with it."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = weakref.ref(ring)
        self.database_url = ring.database_url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mastery-erasure-listener", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set() and self._ring() is not None:
            try:
                self._listen()
                backoff = 0.1
            except (psycopg.Error, OSError) as error:
                log.warning("erasure listener: %s; again in %.1f s", type(error).__name__, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                ring = self._ring()
                if ring is not None:
                    ring.listening(None)

    def _listen(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(f"LISTEN {ERASURE_CHANNEL}")
            ring = self._ring()
            if ring is None:
                return
            ring.listening(time.monotonic())
            del ring
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    ring = self._ring()
                    if ring is None:
                        return
                    ring.told_erased(UUID(note.payload))  # only erase_student sends here
                if self._ring() is None:
                    return


_ERASED = object()
_NO_KEY = object()
