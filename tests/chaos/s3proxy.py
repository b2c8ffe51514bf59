"""A forwarding proxy in front of the moto S3 server that counts and breaks requests.

photosync talks to the proxy as if it were S3. The proxy counts the uploads
that landed (to prove nothing is uploaded twice) and, on request, answers 503,
drops the connection after reading half a body (a partial upload), or flips a
bit of an upload's body on its way (the server's SHA-256 check must refuse it).
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: (method, path, query) -> None (forward), "503", "reset", "flip"
Decide = Callable[[str, str, dict[str, list[str]]], str | None]


class _ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class S3Proxy:
    def __init__(self, upstream: str, decide: Decide | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.decide: Decide = decide or (lambda _m, _p, _q: None)
        #: object key -> uploads that the server accepted (PUT object, CompleteMultipartUpload)
        self.landed: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        line = self.rfile.readline()
                        if not line:
                            raise _ClientGone
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunk = self.rfile.read(size)
                        if len(chunk) < size:
                            raise _ClientGone
                        chunks.append(chunk)
                        self.rfile.readline()
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # the client died mid-body: S3 answers IncompleteBody and stores
                    # nothing, so a cut request is never forwarded as if whole
                    raise _ClientGone
                return body

            def _any(self) -> None:
                split = urlsplit(self.path)
                query = parse_qs(split.query, keep_blank_values=True)
                fault = proxy.decide(self.command, split.path, query)
                if fault == "reset":
                    length = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(length // 2)
                    with proxy.lock:
                        proxy.faults["reset"] += 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                try:
                    body = self._body()
                except (_ClientGone, ValueError, OSError):
                    self.close_connection = True
                    return
                if fault == "503":
                    with proxy.lock:
                        proxy.faults["503"] += 1
                    payload = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "flip" and body:
                    with proxy.lock:
                        proxy.faults["flip"] += 1
                    flipped = bytearray(body)
                    flipped[len(flipped) // 2] ^= 0x10
                    body = bytes(flipped)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    payload = answer.read()
                    status = answer.status
                    answer_headers = [
                        (k, v) for k, v in answer.getheaders() if k.lower() not in _HOP
                    ]
                finally:
                    conn.close()
                if status == 200 and self._is_upload(self.command, query):
                    with proxy.lock:
                        proxy.landed[split.path.lstrip("/").split("/", 1)[-1]] += 1
                self.send_response(status)
                for key, value in answer_headers:
                    if key.lower() != "content-length" or self.command == "HEAD":
                        self.send_header(key, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            @staticmethod
            def _is_upload(method: str, query: dict[str, list[str]]) -> bool:
                if method == "PUT":
                    return "uploadId" not in query and "partNumber" not in query
                return method == "POST" and "uploadId" in query

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> S3Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
