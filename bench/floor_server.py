"""The floor of an HTTP answer on this machine: a bare asyncio server answering every request
with the same bytes, as a separate process (as the agent is).

bench.poll times it the same way as the agent's ~50-object Navigation poll, right after
it, so the report says what the VM gave at that moment: this VM's speed moves by the hour
(the same agent code measured p50 2.6 and 3.2 ms in two runs), and the difference to this
floor is the agent's own cost.

Usage: floor_server.py PORT BODY_BYTES
"""

from __future__ import annotations

import asyncio
import sys


class _Answer(asyncio.Protocol):
    """Answers each request whose headers and declared body have arrived (keep-alive)."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            assert self.transport is not None
            self.transport.write(self.response)


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = b'{"data":"' + b"x" * max(0, size - 11) + b'"}'
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body) + body
    )

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Answer(response), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
