"""The connection holder's frames (see :mod:`.holder` for the protocol): ``type (1 byte) +
length (4 bytes, big endian) + payload`` over the Unix socket."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEADER = struct.Struct(">cI")
_CHUNK = 1 << 16


def send_frame(sock: socket.socket, kind: bytes, payload: bytes | memoryview = b"") -> None:
    header = _HEADER.pack(kind, len(payload))
    if len(payload) <= _CHUNK:
        sock.sendall(header + payload)
    else:  # not copied into one buffer
        sock.sendall(header)
        sock.sendall(payload)


def send_json(sock: socket.socket, kind: bytes, obj: Any) -> None:
    send_frame(sock, kind, json.dumps(obj).encode())


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> tuple[bytes, bytes]:
    kind, n = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    return kind, _recv_exact(sock, n) if n else b""


class FrameWriter:
    """A write-only file that sends what is written as ``kind`` frames (stdin of a command)."""

    def __init__(self, sock: socket.socket, kind: bytes = b"I") -> None:
        self.sock, self.kind, self.buf = sock, kind, bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        while len(self.buf) >= _CHUNK:
            send_frame(self.sock, self.kind, bytes(self.buf[:_CHUNK]))
            del self.buf[:_CHUNK]
        return len(data)

    def flush(self) -> None:
        if self.buf:
            send_frame(self.sock, self.kind, bytes(self.buf))
            self.buf.clear()
