"""A git server over plain HTTP on loopback, behind basic authentication.

It serves bare repositories with git's dumb protocol (static files, after
``git update-server-info``). Under ``/echo/`` it answers every request that
carries credentials with a protocol error repeating them, raw and in the
header's base64, as a hostile or broken server might: what git prints
then holds the credentials.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit


def pkt_line(text: str) -> bytes:
    """One line of git's pkt-line framing."""
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


class GitServer:
    """Repositories under ``root`` at ``http://127.0.0.1:<port>/<name>``."""

    def __init__(self, root: Path, username: str, password: str) -> None:
        self.root = root
        self.username = username
        self.password = password
        self.port = 0

    def url(self, name: str) -> str:
        """The URL of repository ``name`` with the credentials in it."""
        userinfo = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}"
        return f"http://{userinfo}@127.0.0.1:{self.port}/{name}"

    @contextmanager
    def running(self) -> Iterator[GitServer]:
        """Serve on a kernel-chosen port until the block ends."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self
        expected = "Basic " + base64.b64encode(
            f"{self.username}:{self.password}".encode()
        ).decode("ascii")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def do_GET(self) -> None:
                header = self.headers.get("Authorization", "")
                if header != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = urlsplit(self.path).path
                if path.startswith("/echo/"):
                    self._echo(header)
                    return
                target = (owner.root / path.lstrip("/")).resolve()
                if owner.root not in target.parents or not target.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _echo(self, header: str) -> None:
                secret = f"{owner.username}:{owner.password}"
                body = (
                    pkt_line("# service=git-upload-pack\n")
                    + b"0000"
                    + pkt_line(f"ERR you sent {secret} as {header}")
                )
                self.send_response(200)
                self.send_header(
                    "Content-Type", "application/x-git-upload-pack-advertisement"
                )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
