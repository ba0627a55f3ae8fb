"""A known event rate for rate tests: a socket filter on a UDP socket that receives N
datagrams per second from a sender thread.

The filter runs once per datagram delivered to that one socket (bound to a port of our
own on 127.0.0.1), so other engineers' loopback traffic on this machine does not reach it:
its run count moves only with the packets sent here. The filter returns 0, so the kernel
drops every datagram after running it and nothing piles up in the receive queue.
"""

from __future__ import annotations

import socket
import threading
import time
from array import array
from bisect import bisect_left, bisect_right

from devagent.bpf.handles import Fd
from devagent.bpf.names import PROG_TYPE_IDS
from devagent.bpf.objects import program_info
from devagent.bpf.progs import load_program, return_imm

SO_ATTACH_BPF = 50
PROG_NAME = "rate_probe"


class PacketPump:
    """The filter (loaded on creation) and its receiving socket; `running(rate)` sends."""

    def __init__(self) -> None:
        self.prog: Fd = load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0), name=PROG_NAME)
        self.prog_id = program_info(self.prog).id
        self.receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.receiver.bind(("127.0.0.1", 0))
        self.receiver.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, self.prog.fd)
        self.address = self.receiver.getsockname()
        self.sent_at: array[float] = array("d")  # Unix time of every datagram sent
        self.rate = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, rate: float) -> None:
        """Send `rate` datagrams per second (on an absolute schedule, so a late wake-up is
        caught up) until stop()."""
        self.stop()
        self.rate = rate
        self._stop.clear()
        self._thread = threading.Thread(target=self._send, args=(rate,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(5)
            self._thread = None

    def sent_between(self, start: float, end: float) -> int:
        """Datagrams sent between two Unix times."""
        return bisect_right(self.sent_at, end) - bisect_left(self.sent_at, start)

    def _send(self, rate: float) -> None:
        period = 1.0 / rate
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            next_at = time.monotonic()
            while not self._stop.is_set():
                out.sendto(b"rate", self.address)
                self.sent_at.append(time.time())
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)

    def close(self) -> None:
        self.stop()
        self.receiver.close()
        self.prog.close()
