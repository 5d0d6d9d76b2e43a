"""A faster transcoder for domain events, byte-compatible with the library's JSON transcoder.

Encoding goes through orjson (datetimes and registered types are passed to the library's own
``_encode_obj``, so they are written as ``{"_type_": ..., "_data_": ...}`` exactly as before).
orjson writes a UUID as a bare string, which would decode as a str, so this transcoder encodes
only values without UUIDs: the learning events. Aggregate snapshots (whose state holds the
aggregate id) keep the library's transcoder.

Decoding parses with orjson and then revives encoded values bottom-up, as the library's
``object_hook`` does. What orjson refuses or reads differently falls back to the library's
decoder, so every stored state reads exactly as it did: NaN written by an older encoder (orjson
refuses it) and integers beyond 64 bits (orjson reads them as floats, so a float that large,
which is always a whole number, sends the state to the library's decoder).
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

_BEYOND_64_BITS = 2.0**63


class _ReadDifferentlyError(Exception):
    """orjson's reading of a state may differ from the library's."""


class EventJSONTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        try:
            return self._revive(orjson.loads(data))
        except (orjson.JSONDecodeError, _ReadDifferentlyError):
            return super().decode(data)

    def _revive(self, value: Any) -> Any:
        if type(value) is dict:
            for name, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[name] = self._revive(item)
                elif type(item) is float and abs(item) >= _BEYOND_64_BITS:
                    raise _ReadDifferentlyError
            return self._decode_obj(value)
        if type(value) is list:
            return [self._revive(item) for item in value]
        if type(value) is float and abs(value) >= _BEYOND_64_BITS:
            raise _ReadDifferentlyError
        return value
