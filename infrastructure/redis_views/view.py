"""The mastery read models in Redis (SPEC §5), behind the ``MasteryView`` port.

A student's update is one Lua script over keys of one hash slot: it compares the update's
position with the student's recorded one and, only if newer, writes the current document, the
snapshots and the position together. Rosters are sorted-set scores that are *set*, never
incremented, and the projector's own position is written last and only ever moves forward —
so a projector killed between any two commands and restarted ends where a clean run ends.
A batch goes out in two pipelined round trips: the students' scripts, then the rosters of the
students whose script did not refuse them, and the projector's position.

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
import redis
from eventsourcing.persistence import Tracking

from infrastructure.redis_views.keys import Keys
from projections.view import MasteryView, Roster, StudentKey, StudentUpdate

APPLY_STUDENT = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local recorded = tonumber(redis.call('HGET', KEYS[1], 'position') or '0')
if recorded >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
local count = tonumber(ARGV[5])
for i = 1, count do
  local expires = tonumber(ARGV[5 + 2 * i])
  if expires > 0 then
    redis.call('SET', KEYS[3 + i], ARGV[4 + 2 * i], 'EXAT', expires)
  else
    redis.call('SET', KEYS[3 + i], ARGV[4 + 2 * i])
  end
end
redis.call('HSET', KEYS[1], 'position', ARGV[1], 'dates', ARGV[3], 'classes', ARGV[4])
return 1
"""
REFUSED = -1  # APPLY_STUDENT's answer for an erased student

SET_ROSTER_SCORE = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""

SEAL_ERASED = """
redis.call('SET', KEYS[1], ARGV[1])
local dates = redis.call('HGET', KEYS[2], 'dates') or '[]'
return {dates, redis.call('HGET', KEYS[2], 'classes') or '[]'}
"""

REFUSE_FROM_ROSTER = """
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

ADVANCE_TRACKING = """
local recorded = tonumber(redis.call('GET', KEYS[1]) or '0')
if recorded < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

SCAN_BATCH = 1000
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
    def __init__(self, client: redis.Redis, keys: Keys, snapshot_ttl_days: int = 90) -> None:
        self.client = client
        self.keys = keys
        self.snapshot_ttl_days = snapshot_ttl_days
        self._apply_student = client.register_script(APPLY_STUDENT)
        self._set_roster_score = client.register_script(SET_ROSTER_SCORE)
        self._seal_erased = client.register_script(SEAL_ERASED)
        self._refuse_from_roster = client.register_script(REFUSE_FROM_ROSTER)
        self.parsed = ParsedDocuments()
        self._advance_tracking = client.register_script(ADVANCE_TRACKING)

    # --- TrackingRecorder ------------------------------------------------------------------

    def insert_tracking(self, tracking: Tracking) -> None:
        self._advance_tracking(
            keys=[self.keys.tracking(tracking.application_name)],
            args=[tracking.notification_id],
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        value = self.client.get(self.keys.tracking(application_name))
        return int(value) if value is not None else None

    # --- writing ---------------------------------------------------------------------------

    def projected_positions(self, keys: Sequence[StudentKey]) -> dict[StudentKey, int]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(self.keys.projection(key.tenant_id, key.student_id), "position")
        return {key: int(value or 0) for key, value in zip(keys, pipe.execute(), strict=True)}

    def apply(self, updates: Sequence[StudentUpdate], tracking: Tracking | None) -> None:
        now = datetime.now(UTC)
        outcomes: list[Any] = []
        if updates:
            pipe = self.client.pipeline(transaction=False)
            for update in updates:
                self._queue_student(pipe, update, now)
            outcomes = pipe.execute()
        # A roster is written only after its student's script has not refused the student, so
        # the projection hash an erasure seals already names every class written here.
        pipe = self.client.pipeline(transaction=False)
        for update, outcome in zip(updates, outcomes, strict=True):
            if outcome != REFUSED:
                self._queue_rosters(pipe, update)
        if tracking is not None:
            self._advance_tracking(
                keys=[self.keys.tracking(tracking.application_name)],
                args=[tracking.notification_id],
                client=pipe,
            )
        pipe.execute()

    def _queue_student(self, pipe: Any, update: StudentUpdate, now: datetime) -> None:
        tenant, student = update.key.tenant_id, update.key.student_id
        snapshot_keys: list[str] = []
        snapshot_args: list[Any] = []
        for day, document in sorted(update.snapshots.items()):
            expires = self._expiry(day)
            if expires is not None and expires <= now:
                continue  # already past its TTL: the API replays such dates
            snapshot_keys.append(self.keys.snapshot(tenant, student, day))
            snapshot_args += [_json(document), int(expires.timestamp()) if expires else 0]
        self._apply_student(
            keys=[
                self.keys.projection(tenant, student),
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
            client=pipe,
        )

    def _queue_rosters(self, pipe: Any, update: StudentUpdate) -> None:
        tenant, student = update.key.tenant_id, update.key.student_id
        self._set_roster_score(
            keys=[self.keys.tenant_roster(tenant), self.keys.erased_from_tenant(tenant)],
            args=[student, update.score],
            client=pipe,
        )
        for class_id in update.classes:
            self._set_roster_score(
                keys=[
                    self.keys.class_roster(tenant, class_id),
                    self.keys.erased_from_class(tenant, class_id),
                ],
                args=[student, update.score],
                client=pipe,
            )
            # After the roster: an erasure emptying the roster meanwhile re-checks it (below).
            pipe.sadd(self.keys.tenant_classes(tenant), class_id)

    def _expiry(self, day: date) -> datetime | None:
        if self.snapshot_ttl_days <= 0:
            return None
        return datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=self.snapshot_ttl_days)

    def drop_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        tenant, student = key.tenant_id, key.student_id
        doomed = [self.keys.current(tenant, student), self.keys.projection(tenant, student)]
        doomed += [self.keys.snapshot(tenant, student, day) for day in self.activity_dates(key)]
        pipe = self.client.pipeline(transaction=False)
        pipe.unlink(*doomed)
        pipe.zrem(self.keys.tenant_roster(tenant), student)
        for class_id in classes:
            pipe.zrem(self.keys.class_roster(tenant, class_id), student)
        pipe.execute()
        self._forget_emptied_classes(tenant, classes)

    def erase_student(self, key: StudentKey, classes: Sequence[str]) -> None:
        tenant, student = key.tenant_id, key.student_id
        raw_dates, raw_classes = self._seal_erased(
            keys=[self.keys.erased(tenant, student), self.keys.projection(tenant, student)],
            args=[int(datetime.now(UTC).timestamp())],
        )
        # Sealed: no later script writes this student, so what it named is all there is.
        days = [date.fromisoformat(day) for day in orjson.loads(raw_dates)]
        doomed = [self.keys.current(tenant, student), self.keys.projection(tenant, student)]
        doomed += [self.keys.snapshot(tenant, student, day) for day in days]
        pipe = self.client.pipeline(transaction=False)
        pipe.unlink(*doomed)
        rosters = [(self.keys.tenant_roster(tenant), self.keys.erased_from_tenant(tenant))]
        class_ids = sorted({*classes, *orjson.loads(raw_classes)})
        rosters += [
            (self.keys.class_roster(tenant, c), self.keys.erased_from_class(tenant, c))
            for c in class_ids
        ]
        for roster, refusals in rosters:
            self._refuse_from_roster(keys=[roster, refusals], args=[student], client=pipe)
        pipe.execute()
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
        pipe = self.client.pipeline(transaction=False)
        for class_id in class_ids:
            pipe.zcard(self.keys.class_roster(tenant, class_id))
        sizes = pipe.execute()
        return [c for c, size in zip(class_ids, sizes, strict=True) if int(size) == 0]

    def is_erased(self, key: StudentKey) -> bool:
        return bool(self.client.exists(self.keys.erased(key.tenant_id, key.student_id)))

    def drop_all(self, tenant_id: str | None = None) -> None:
        for pattern in self.keys.all_pattern(tenant_id):
            batch: list[Any] = []
            for name in self.client.scan_iter(match=pattern, count=SCAN_BATCH):
                batch.append(name)
                if len(batch) >= SCAN_BATCH:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)

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
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(self.keys.projection(key.tenant_id, key.student_id), "classes")
        return {
            key: sorted(orjson.loads(value)) if value is not None else []
            for key, value in zip(keys, pipe.execute(), strict=True)
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
