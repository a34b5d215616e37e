"""A git server speaking the smart HTTP protocol on loopback.

Each request is handed to ``git http-backend`` as a CGI program, the way a
web server in front of real repositories does it, so clients see exactly
what git sends. The server records every request it receives, and a test
may answer chosen requests with a redirect instead.

Usage::

    with SmartGitServer(root).running() as server:
        server.redirect = lambda method, path: other.url("x.git") if ... else None
        ...  # git fetch server.url("x.git")
        assert server.requests == [("GET", "/x.git/info/refs?service=...")]
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

# Given a request's method and path (with its query), where to send the
# client instead, or None to serve it.
Redirect = Callable[[str, str], str | None]


def never(method: str, path: str) -> str | None:
    """Serve every request."""
    del method, path
    return None


class SmartGitServer:
    """Bare repositories under ``root`` at ``http://<host>:<port>/<name>``.

    ``host`` is a loopback address: any of 127.0.0.0/8 answers on Linux, so
    two servers can stand for two different hosts.
    """

    def __init__(
        self, root: Path, redirect: Redirect = never, host: str = "127.0.0.1"
    ) -> None:
        self.root = root
        self.redirect = redirect
        self.host = host
        self.port = 0
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def url(self, name: str) -> str:
        """The URL of repository ``name``."""
        return f"http://{self.host}:{self.port}/{name}"

    def seen(self) -> list[tuple[str, str]]:
        """Every ``(method, path)`` received so far, in order."""
        with self._lock:
            return list(self.requests)

    @contextmanager
    def running(self) -> Iterator[SmartGitServer]:
        """Serve on a kernel-chosen port until the block ends."""
        server = ThreadingHTTPServer((self.host, 0), self._handler())
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                owner._record(method, self.path)
                body = self._body()
                target = owner.redirect(method, self.path)
                if target is not None:
                    # 307 keeps the method and body, so a POST may follow it.
                    self.send_response(307)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._backend(method, body)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size + 2)[:size]
                        if size == 0:
                            return data
                        data += chunk
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def _backend(self, method: str, body: bytes) -> None:
                parts = urlsplit(self.path)
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(owner.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": "/dev/null",
                    "REQUEST_METHOD": method,
                    "PATH_INFO": parts.path,
                    "QUERY_STRING": parts.query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": self.client_address[0],
                }
                for header in ("Content-Encoding", "Git-Protocol"):
                    if header in self.headers:
                        key = "HTTP_" + header.upper().replace("-", "_")
                        env[key] = self.headers[header]
                done = subprocess.run(
                    ["git", "http-backend"],
                    input=body,
                    env=env,
                    capture_output=True,
                    check=False,
                    timeout=60,
                )
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
