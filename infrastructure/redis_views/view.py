"""The mastery read models in Redis (SPEC §5), behind the ``MasteryView`` port.

A student's update is one Lua script over keys of one hash slot: it compares the update's
position with the student's recorded one and, only if newer, writes the current document, the
snapshots and the position together. Rosters are sorted-set scores that are *set*, never
incremented, and the projector's own position is written last and only ever moves forward —
so a projector killed between any two commands and restarted ends where a clean run ends.
A batch goes out in ordered stages (``commands.py``): the students' scripts; then the rosters
of the students whose script did not refuse them; then the classes of those rosters added to
the tenant's class set; then the projector's position. On one Redis the last three share one
pipelined round trip; on a Redis Cluster, whose pipelines run in parts on several masters in any
order, each is a round trip of its own, so the position never runs before what it covers.

Erasure is final (SPEC §10, decision 28): ``erase_student`` leaves a tombstone in the student's
slot, which the student's script checks atomically with its writes, and adds the student to a
refusal set beside each of their rosters (class and tenant rosters live in other slots), which
every roster write checks atomically with its ``ZADD``. A projector that read an erased
student's events before the erasure and writes after it therefore writes nothing of theirs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from infrastructure.redis_views import scripts
from infrastructure.redis_views.commands import (
    SCAN_BATCH,
    Batch,
    Commands,
    RedisClient,
    unlink_in_slot,
)
from infrastructure.redis_views.keys import Keys
from projections.view import MasteryView, Roster, StudentKey, StudentUpdate

PARSED_CACHE_SIZE = 20_000


class ParsedDocuments:
    """Parsed current documents by student, reused while the stored bytes are unchanged
    (a bytes comparison instead of a JSON parse on every hot read). Treat them as read-only."""

    def __init__(self, size: int = PARSED_CACHE_SIZE) -> None:
        self.size = size
        self._documents: OrderedDict[StudentKey, tuple[bytes, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, key: StudentKey, raw: Any) -> dict[str, Any]:
        with self._lock:
            cached = self._documents.get(key)
            if cached is not None and cached[0] == raw:
                self._documents.move_to_end(key)
                return cached[1]
        document: dict[str, Any] = orjson.loads(raw)
        with self._lock:
            self._documents[key] = (bytes(raw), document)
            if len(self._documents) > self.size:
                self._documents.popitem(last=False)
        return document


class RedisMasteryView(MasteryView):
    def __init__(self, client: RedisClient, keys: Keys, snapshot_ttl_days: int = 90) -> None:
        self.client = client
        self.keys = keys
        self.snapshot_ttl_days = snapshot_ttl_days
        self.commands = Commands(client)
        self._apply_student = client.register_script(scripts.APPLY_STUDENT)
        self._set_roster_score = client.register_script(scripts.SET_ROSTER_SCORE)
        self._seal_erased = client.register_script(scripts.SEAL_ERASED)
        self._refuse_from_roster = client.register_script(scripts.REFUSE_FROM_ROSTER)
        self._advance_tracking = client.register_script(scripts.ADVANCE_TRACKING)
        self.parsed = ParsedDocuments()

    # --- TrackingRecorder ------------------------------------------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        self.commands.run(lambda batch: self._queue_tracking(batch, tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        value = self.client.get(self.keys.tracking(application_name))
        return int(value) if value is not None else None

    # --- writing ---------------------------------------------------------------------------

    def projected_positions(self, keys: Sequence[StudentKey]) -> dict[StudentKey, int]:
        def positions(batch: Batch) -> None:
            for key in keys:
                name = self.keys.projection(key.tenant_id, key.student_id)
                batch.on(name).hget(name, "position")

        [values] = self.commands.run(positions)
        return {key: int(value or 0) for key, value in zip(keys, values, strict=True)}

    def apply(self, updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
        now = datetime.now(UTC)

        def students(batch: Batch) -> None:
            for update in updates:
                self._queue_student(batch, update, now)

        [outcomes] = self.commands.run(students)
        # A roster is written only after its student's script has not refused the student, so
        # the projection hash an erasure seals already names every class written here.
        accepted = [
            update
            for update, outcome in zip(updates, outcomes, strict=True)
            if outcome != scripts.REFUSED
        ]

        def rosters(batch: Batch) -> None:
            for update in accepted:
                self._queue_rosters(batch, update)

        def class_set(batch: Batch) -> None:
            # After the rosters: an erasure emptying a roster meanwhile re-checks it (below).
            for update in accepted:
                self._queue_class_adds(batch, update)

        self.commands.run(rosters, class_set, lambda batch: self._queue_tracking(batch, tracking))

    def _queue_tracking(self, batch: Batch, tracking: Tracking | None) -> None:
        if tracking is not None:
            key = self.keys.tracking(tracking.application_name)
            self._advance_tracking(
                keys=[key], args=[tracking.notification_id], client=batch.on(key)
            )

    def _queue_student(self, batch: Batch, update: StudentUpdate, now: datetime) -> None:
        tenant, student = update.key.tenant_id, update.key.student_id
        snapshot_keys: list[str] = []
        snapshot_args: list[Any] = []
        for day, document in sorted(update.snapshots.items()):
            expires = self._expiry(day)
            if expires is not None and expires <= now:
                continue  # already past its TTL: the API replays such dates
            snapshot_keys.append(self.keys.snapshot(tenant, student, day))
            snapshot_args += [_json(document), int(expires.timestamp()) if expires else 0]
        projection = self.keys.projection(tenant, student)
        self._apply_student(
            keys=[
                projection,
                self.keys.erased(tenant, student),
                self.keys.current(tenant, student),
                *snapshot_keys,
            ],
            args=[
                update.position,
                _json(update.current),
                _json([d.isoformat() for d in update.activity_dates]),
                _json(sorted(update.classes)),
                len(snapshot_keys),
                *snapshot_args,
            ],
            client=batch.on(projection),
        )

    def _queue_rosters(self, batch: Batch, update: StudentUpdate) -> None:
        tenant, student = update.key.tenant_id, update.key.student_id
        rosters = [(self.keys.tenant_roster(tenant), self.keys.erased_from_tenant(tenant))]
        rosters += [
            (self.keys.class_roster(tenant, c), self.keys.erased_from_class(tenant, c))
            for c in update.classes
        ]
        for roster, refusals in rosters:
            self._set_roster_score(
                keys=[roster, refusals], args=[student, update.score], client=batch.on(roster)
            )

    def _queue_class_adds(self, batch: Batch, update: StudentUpdate) -> None:
        if update.classes:
            name = self.keys.tenant_classes(update.key.tenant_id)
            batch.on(name).sadd(name, *update.classes)

    def _expiry(self, day: date) -> datetime | None:
        if self.snapshot_ttl_days <= 0:
            return None
        return datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=self.snapshot_ttl_days)

    def drop_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        tenant, student = key.tenant_id, key.student_id
        doomed = [self.keys.current(tenant, student), self.keys.projection(tenant, student)]
        doomed += [self.keys.snapshot(tenant, student, day) for day in self.activity_dates(key)]

        def drop(batch: Batch) -> None:
            unlink_in_slot(batch, doomed)
            for roster in [self.keys.tenant_roster(tenant)] + [
                self.keys.class_roster(tenant, class_id) for class_id in classes
            ]:
                batch.on(roster).zrem(roster, student)

        self.commands.run(drop)
        self._forget_emptied_classes(tenant, classes)

    def erase_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        tenant, student = key.tenant_id, key.student_id
        tombstone = self.keys.erased(tenant, student)
        [[(raw_dates, raw_classes)]] = self.commands.run(
            lambda batch: self._seal_erased(
                keys=[tombstone, self.keys.projection(tenant, student)],
                args=[int(datetime.now(UTC).timestamp())],
                client=batch.on(tombstone),
            )
        )
        # Sealed: no later script writes this student, so what it named is all there is.
        days = [date.fromisoformat(day) for day in orjson.loads(raw_dates)]
        doomed = [self.keys.current(tenant, student), self.keys.projection(tenant, student)]
        doomed += [self.keys.snapshot(tenant, student, day) for day in days]
        rosters = [(self.keys.tenant_roster(tenant), self.keys.erased_from_tenant(tenant))]
        class_ids = sorted({*classes, *orjson.loads(raw_classes)})
        rosters += [
            (self.keys.class_roster(tenant, c), self.keys.erased_from_class(tenant, c))
            for c in class_ids
        ]

        def drop(batch: Batch) -> None:
            unlink_in_slot(batch, doomed)
            for roster, refusals in rosters:
                self._refuse_from_roster(
                    keys=[roster, refusals], args=[student], client=batch.on(roster)
                )

        self.commands.run(drop)
        self._forget_emptied_classes(tenant, class_ids)

    def _forget_emptied_classes(self, tenant: str, class_ids: Sequence[str]) -> None:
        """Take the classes whose roster is now empty out of the tenant's class set.

        The set and the rosters live in different slots, so this cannot be one script: a
        class is removed, then its roster counted again and the class put back if a roster
        write came in between (a writer adds the class after its roster, so either its add
        follows the removal or its roster entry precedes the second count)."""
        emptied = self._empty_rosters(tenant, class_ids)
        if not emptied:
            return
        self.client.srem(self.keys.tenant_classes(tenant), *emptied)
        still_empty = set(self._empty_rosters(tenant, emptied))
        refilled = [c for c in emptied if c not in still_empty]
        if refilled:
            self.client.sadd(self.keys.tenant_classes(tenant), *refilled)

    def _empty_rosters(self, tenant: str, class_ids: Sequence[str]) -> list[str]:
        def count(batch: Batch) -> None:
            for class_id in class_ids:
                roster = self.keys.class_roster(tenant, class_id)
                batch.on(roster).zcard(roster)

        [sizes] = self.commands.run(count)
        return [c for c, size in zip(class_ids, sizes, strict=True) if int(size) == 0]

    def is_erased(self, key: StudentKey) -> bool:
        return bool(self.client.exists(self.keys.erased(key.tenant_id, key.student_id)))

    def drop_all(self, tenant_id: str | None = None) -> None:
        """Delete every read model (or one tenant's): keys found by SCAN, on every master of a
        cluster, and deleted in batches."""
        for pattern in self.keys.all_pattern(tenant_id):
            batch: list[Any] = []
            for name in self.commands.scan(pattern):
                batch.append(name)
                if len(batch) >= SCAN_BATCH:
                    self.commands.unlink(batch)
                    batch = []
            self.commands.unlink(batch)

    # --- reading ---------------------------------------------------------------------------

    def current(self, key: StudentKey) -> dict[str, Any] | None:
        """The current document (treat it as read-only: unchanged bytes give the same object,
        so a hot read costs a GET and a comparison rather than a JSON parse)."""
        value = self.client.get(self.keys.current(key.tenant_id, key.student_id))
        return None if value is None else self.parsed.document(key, value)

    def snapshots(self, key: StudentKey, dates: Sequence[date]) -> dict[date, dict[str, Any]]:
        if not dates:
            return {}
        names = [self.keys.snapshot(key.tenant_id, key.student_id, day) for day in dates]
        values = self.client.mget(names)
        found = {}
        for day, value in zip(dates, values, strict=True):
            document = _document(value)
            if document is not None:
                found[day] = document
        return found

    def activity_dates(self, key: StudentKey) -> list[date]:
        value = self.client.hget(self.keys.projection(key.tenant_id, key.student_id), "dates")
        if value is None:
            return []
        return [date.fromisoformat(day) for day in orjson.loads(value)]

    def class_roster(self, tenant_id: str, class_id: str) -> Roster:
        return _roster(
            self.client.zrange(self.keys.class_roster(tenant_id, class_id), 0, -1, withscores=True)
        )

    def tenant_roster(self, tenant_id: str) -> Roster:
        return _roster(
            self.client.zrange(self.keys.tenant_roster(tenant_id), 0, -1, withscores=True)
        )

    def class_ids(self, tenant_id: str) -> list[str]:
        members: Any = self.client.smembers(self.keys.tenant_classes(tenant_id))
        return sorted(_text(m) for m in members)

    def classes_of(self, keys: Sequence[StudentKey]) -> dict[StudentKey, list[str]]:
        def classes(batch: Batch) -> None:
            for key in keys:
                name = self.keys.projection(key.tenant_id, key.student_id)
                batch.on(name).hget(name, "classes")

        [values] = self.commands.run(classes)
        return {
            key: sorted(orjson.loads(value)) if value is not None else []
            for key, value in zip(keys, values, strict=True)
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _document(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    document: dict[str, Any] = orjson.loads(value)
    return document


def _roster(members: Any) -> Roster:
    return Roster([(_text(m), float(score)) for m, score in members])
