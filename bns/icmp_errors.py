"""A UDP socket's ICMP error queue (Linux): which peers refused our datagrams.

With IP_RECVERR set the kernel queues each ICMP error with the address of the datagram that
caused it, so a port-unreachable from a stopped node can fail that node's requests at once
instead of after a hedge delay or a timeout. Elsewhere the queue is absent and nothing is read.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any, Final

__all__ = ["ErrorQueue"]

# Linux's IP_RECVERR / IPV6_RECVERR, which Python does not name.
_RECVERR: Final = {
    socket.AF_INET: (socket.IPPROTO_IP, 11),
    socket.AF_INET6: (socket.IPPROTO_IPV6, 25),
}
_ERRORS_PER_WAKE: Final = 64  # queued errors read at once


class ErrorQueue:
    """A handle on one socket's error queue; `open` gives None where there is none."""

    def __init__(self, handle: socket.socket) -> None:
        self._handle = handle

    @classmethod
    def open(cls, sock: Any) -> ErrorQueue | None:
        # asyncio's socket wrapper cannot read the queue, so a duplicate descriptor does.
        option = _RECVERR.get(sock.family)
        if sys.platform != "linux" or option is None:
            return None
        try:
            sock.setsockopt(option[0], option[1], 1)
            return cls(socket.socket(fileno=os.dup(sock.fileno())))
        except OSError:
            return None

    def pending(self) -> bool:
        """Does the kernel hold an error that would fail the socket's next send?"""
        return bool(self._handle.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))

    def refused(self) -> Iterator[tuple[str, int]]:
        """Empty the queue (up to a bound), yielding each address that refused a datagram."""
        for _ in range(_ERRORS_PER_WAKE):
            try:
                _, ancillary, _, addr = self._handle.recvmsg(
                    0, 256, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
                )
            except OSError:  # the queue is empty (BlockingIOError) or the socket closed
                return
            if _port_unreachable(ancillary) and isinstance(addr, tuple):
                yield (addr[0], addr[1])

    def close(self) -> None:
        self._handle.close()


def _port_unreachable(ancillary: list[tuple[int, int, bytes]]) -> bool:
    """Does the error (a struct sock_extended_err) say the port was unreachable?"""
    for _, _, data in ancillary:
        if len(data) >= 4 and struct.unpack_from("=I", data)[0] == errno.ECONNREFUSED:
            return True
    return False
