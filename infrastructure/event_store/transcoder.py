"""A faster transcoder for domain events, byte-compatible with the library's JSON transcoder.

Encoding goes through orjson (datetimes and registered types are passed to the library's own
``_encode_obj``, so they are written as ``{"_type_": ..., "_data_": ...}`` exactly as before).
orjson writes a UUID as a bare string, which would decode as a str, so this transcoder encodes
only values without UUIDs: the learning events. Aggregate snapshots (whose state holds the
aggregate id) keep the library's transcoder.

Decoding parses with orjson and then revives encoded values bottom-up, as the library's
``object_hook`` does. What orjson refuses or reads differently falls back to the library's
decoder, so every stored state reads exactly as it did: NaN written by an older encoder (orjson
refuses it) and integers beyond 64 bits (orjson would round them to floats; any run of 20
digits sends the state to the library's decoder).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

_MAYBE_BEYOND_64_BITS = re.compile(rb"\d{20}")


class EventJSONTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        if _MAYBE_BEYOND_64_BITS.search(data):
            return super().decode(data)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        return self._revive(parsed)

    def _revive(self, value: Any) -> Any:
        if type(value) is dict:
            for name, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[name] = self._revive(item)
            return self._decode_obj(value)
        if type(value) is list:
            return [self._revive(item) for item in value]
        return value
