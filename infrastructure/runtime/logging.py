"""Structured logging: one JSON object per line, configured in one place.

``configure_logging`` routes both structlog loggers and the standard library's ``logging``
(used by the eventsourcing library and older modules) through the same JSON renderer on
stderr, so a log shipper sees one format. Call it once, at the edge (a CLI command).
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str | int = logging.INFO) -> None:
    """JSON lines on stderr for structlog and stdlib loggers alike, at ``level``."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # structlog's own loggers take the fast path: filtered by level before any work, rendered
    # by orjson and written as bytes — a request log line costs microseconds, not tens of them.
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(sys.stderr.buffer),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
