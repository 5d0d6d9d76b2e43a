"""A mapper that encrypts each stored event with its student's own data key.

Transparent to the domain and to replay: domain events go in and come out unchanged. A stored
state that starts with ``MARKER`` is ``MARKER + nonce + AES-GCM(state)``, sealed with the
aggregate id and version as associated data (a ciphertext cannot be moved to another student
or position); any other state is legacy plaintext and is read as it is, so stores written
before encryption was switched on stay readable.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from domain.errors import StudentErasedError
from infrastructure.event_store.keys import NONCE_BYTES, KeyRing

MARKER = b"\x00me1"


class StudentCipherMapper(Mapper[UUID]):
    def __init__(self, keyring: KeyRing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keyring = keyring

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        return self._with_state(stored, stored.originator_version, self._seal(stored))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if stored_event.state.startswith(MARKER):
            stored_event = self._with_state(
                stored_event, stored_event.originator_version, self._open(stored_event)
            )
        return super().to_domain_event(stored_event)

    def moved(self, stored_event: StoredEvent, version: int) -> StoredEvent:
        """The same stored event at another version, for the store repair: an encrypted state
        is opened at its old position and sealed for the new one (the version is in the
        associated data); a legacy plaintext state moves as it is."""
        if not stored_event.state.startswith(MARKER):
            return self._with_state(stored_event, version, stored_event.state)
        plain = self._with_state(stored_event, version, self._open(stored_event))
        return self._with_state(plain, version, self._seal(plain))

    def _seal(self, stored: StoredEvent) -> bytes:
        originator_id = _uuid(stored.originator_id)
        cipher = self.keyring.cipher_for(originator_id)
        if cipher is None:  # keys are ensured before writing; this is a programming error
            raise StudentKeyMissingError(originator_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, stored.state, _aad(originator_id, stored.originator_version))
        return MARKER + nonce + sealed

    def _open(self, stored: StoredEvent) -> bytes:
        originator_id = _uuid(stored.originator_id)
        cipher = self.keyring.cipher_for(originator_id)
        if cipher is None:  # a key made by another process after we cached its absence
            self.keyring.forget(originator_id)
            cipher = self.keyring.cipher_for(originator_id)
        if cipher is None:
            raise StudentErasedError(originator_id)
        body = stored.state[len(MARKER) :]
        return cipher.decrypt(
            body[:NONCE_BYTES], body[NONCE_BYTES:], _aad(originator_id, stored.originator_version)
        )

    @staticmethod
    def _with_state(stored: StoredEvent, version: int, state: bytes) -> StoredEvent:
        return StoredEvent(
            originator_id=stored.originator_id,
            originator_version=version,
            topic=stored.topic,
            state=state,
        )


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _aad(originator_id: UUID, version: int) -> bytes:
    return originator_id.bytes + version.to_bytes(8, "big")


class StudentKeyMissingError(RuntimeError):
    def __init__(self, originator_id: UUID) -> None:
        super().__init__(f"no data key for student {originator_id}; ensure keys before saving")
