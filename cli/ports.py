"""Which local ports are free: `init` and `devnet` pick free ones, and `node start` names a
taken one in one line instead of a traceback (issue 16 item 3)."""

from __future__ import annotations

import errno
import socket

from .home import HomeError

__all__ = ["PortInUse", "check_free", "first_free", "is_free"]

# How far past a taken default `first_free` looks before it lets the system pick.
_SCAN = 100


class PortInUse(HomeError):
    code = "port_in_use"


def is_free(host: str, port: int, kind: int) -> bool:
    """Whether `port` can be bound on `host` now (kind: SOCK_STREAM or SOCK_DGRAM). Port 0
    is always free: the system picks one."""
    if port == 0:
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:
            # As the gateway binds: a port in TIME_WAIT from a stopped node is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def first_free(host: str, preferred: int, kind: int, avoid: set[int] | None = None) -> int:
    """`preferred` when it is free, else the next free port after it (else any free one)."""
    taken = avoid or set()
    for port in range(preferred, min(preferred + _SCAN, 65536)):
        if port not in taken and is_free(host, port, kind):
            return port
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def check_free(host: str, port: int, kind: int, flag: str) -> None:
    """PortInUse, naming the port and the flag that changes it, when `port` is taken."""
    if not is_free(host, port, kind):
        what = "TCP (gateway)" if kind == socket.SOCK_STREAM else "UDP (DHT)"
        raise PortInUse(
            f"port {port} ({what}) on {host} is in use, perhaps by another node: "
            f"pass {flag} PORT (0 picks a free one) or stop the other program"
        )
