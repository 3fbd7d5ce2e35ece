"""Small scripted HTTP/1.1 servers for the HTTP stack's tests: each runs an asyncio server on
127.0.0.1 in its own thread (plain or TLS), counts connections, requests and requests in flight,
and answers every request with a script (raw bytes, so framing cases are what a test writes)."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Request:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes
    server: ScriptedServer | None = None
    reader: asyncio.StreamReader | None = None

    @property
    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class Counts:
    connections: int = 0
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    targets: list[str] = field(default_factory=list)
    raw_heads: list[bytes] = field(default_factory=list)


# A script answers one request: it writes to the writer and returns whether to keep the
# connection open for another request.
Script = Callable[[Request, asyncio.StreamWriter], Awaitable[bool]]


def chat_reply(request: Request, text: str | None = None) -> bytes:
    body = request.json
    seed = body.get("seed")
    reply = {
        "id": "x",
        "object": "chat.completion",
        "model": body.get("model", "m"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text or f"The answer is {seed}."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
    }
    return json.dumps(reply).encode()


def response(status: int, body: bytes, headers: dict | None = None, reason: str = "OK") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head.append("Content-Type: application/json")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def instant(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, chat_reply(request)))
    await writer.drain()
    return True


async def gzipped(request: Request, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, gzip.compress(chat_reply(request)), {"Content-Encoding": "gzip"}))
    await writer.drain()
    return True


class ScriptedServer:
    """``with ScriptedServer(script) as server: ... server.base_url ...``"""

    def __init__(self, script: Script = instant, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.counts = Counts()
        self.loop = asyncio.new_event_loop()
        self.release = asyncio.Event()  # set at stop: scripts that hang wait on it
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()

        async def start():
            self.release = asyncio.Event()
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", 0, ssl=self.tls, limit=2**20
            )
            return self._server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self.release.set()
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.counts.raw_heads.append(head)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                request = Request(method, target, headers, b"", self, reader)
                self.counts.requests += 1
                self.counts.targets.append(target)
                self.counts.in_flight += 1
                self.counts.max_in_flight = max(self.counts.max_in_flight, self.counts.in_flight)
                try:
                    if headers.get("x-read-body", "1") == "1":
                        length = int(headers.get("content-length") or 0)
                        request.body = await reader.readexactly(length) if length else b""
                    keep = await self.script(request, writer)
                finally:
                    self.counts.in_flight -= 1
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()


def make_ca_and_server_cert(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed CA (its PEM file returned, to trust) and a TLS 1.3-only server context
    whose certificate, for 127.0.0.1, that CA signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ttc test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
                ]
            ),
            False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context
