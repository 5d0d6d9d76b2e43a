"""Helpers of the HTTP end-to-end tests: a real server in a thread, tokens, a cuttable proxy."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from api.http.app import create_app
from infrastructure.auth.policy import Role
from infrastructure.auth.tokens import mint_token
from infrastructure.bootstrap import Container

SECRET = "test-secret-0123456789-0123456789-abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(container: Container) -> Iterator[str]:
    """The API of ``container`` served over real HTTP by uvicorn; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(container.settings, container),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        ws="none",
        lifespan="on",
        # A server thread starved by the test's own work must not close a client's keep-alive
        # connection as idle while its next request is already on the wire (a ReadError that
        # says nothing about the API).
        timeout_keep_alive=60,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def running_projector(container: Container) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=container.projector.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


@dataclass
class Tokens:
    secret: str = SECRET
    private_key: Any = None  # RSA private key for RS256 tokens

    def mint(
        self,
        role: str,
        sub: str,
        tenant: str,
        *,
        students: list[str] | None = None,
        classes: list[str] | None = None,
        ttl: timedelta = timedelta(minutes=10),
        algorithm: str = "HS256",
    ) -> str:
        key = self.secret if algorithm == "HS256" else self.private_key
        return mint_token(
            role=Role(role),
            subject=sub,
            tenant_id=tenant,
            key=key,
            algorithm=algorithm,
            students=students or (),
            classes=classes or (),
            ttl=ttl,
        )

    def headers(self, role: str, sub: str, tenant: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(role, sub, tenant, **kwargs)}"}


@dataclass
class Api:
    base_url: str
    container: Container
    tokens: Tokens
    client: httpx.Client = field(init=False)
    _opened: list[httpx.Client] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def as_(self, role: str, sub: str, tenant: str, **kwargs: Any) -> httpx.Client:
        """A client sending a token of ``role`` (closed with the server)."""
        client = httpx.Client(
            base_url=self.base_url,
            timeout=30,
            headers=self.tokens.headers(role, sub, tenant, **kwargs),
        )
        self._opened.append(client)
        return client

    def close(self) -> None:
        for client in [self.client, *self._opened]:
            client.close()


def event(
    event_id: str,
    student: str,
    tenant: str,
    *,
    component: str = "quiz",
    day: datetime | None = None,
    class_id: str | None = None,
    topic: str = "python.loops",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    moment = day or datetime.now(UTC) - timedelta(hours=1)
    defaults = {
        "quiz": {"total_questions": 10, "correct_answers": 8},
        "completion": {"total_exercises": 10, "completed_exercises": 9},
        "quality": {"avg_code_quality": 0.8, "correctness": 0.9, "efficiency": 0.7},
        "consistency": {},
    }
    body: dict[str, Any] = {
        "event_id": event_id,
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tenant_id": tenant,
        "student_id": student,
        "component": component,
        "topic": topic,
        "data": data if data is not None else defaults[component],
    }
    if class_id:
        body["class_id"] = class_id
    return body


class CuttableProxy:
    """A TCP proxy whose connections can be cut, to take a server "down" and back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._sockets.discard(source)
            source.close()
