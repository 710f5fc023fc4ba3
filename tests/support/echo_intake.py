"""A raw socket "intake" on 127.0.0.1 that answers every request with bytes chosen by the test,
however malformed: a status line that echoes the API key, headers and a body that quote it, no
status line at all. It records each request's head as its lines (`heads`), so a test can check
which key was sent.

    with EchoIntake(b"HTTP/1.1 403 Forbidden key=...\\r\\nContent-Length: 0\\r\\n\\r\\n") as intake:
        LLMObs.enable(..., override_origin=intake.url)
"""

from __future__ import annotations

import socket
import threading
from typing import Any


class EchoIntake:
    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.heads: list[list[bytes]] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="echo-intake", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> EchoIntake:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    self._answer(connection)
                except OSError:
                    pass

    def _answer(self, connection: socket.socket) -> None:
        """Reads one request (head and Content-Length body), answers, and closes."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.heads.append(head.split(b"\r\n"))
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                return
            body += chunk
        connection.sendall(self.answer)
