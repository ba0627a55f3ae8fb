"""Many simulated agents in one process: each port answers /metrics with a recorded agent
answer, its node label made its own and its run counters moving at their own pace, so a real
Prometheus scraping them holds what a fleet of real agents would give it.

Usage: fleet_targets.py RECORDED_METRICS_FILE FIRST_PORT COUNT

With FIRST_PORT 0 each target takes a free port of the kernel's choosing. Once all listen, one
line goes to stdout: `ready` and the ports as a JSON list.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

_NODE = re.compile(r'node="[^"]*"')
_COUNTER = re.compile(
    r"^(devagent_ebpf_prog_(?:runs|run_seconds)_total\{[^}]*\}) (\S+)$", re.MULTILINE
)


class Template:
    """The recorded body cut at each moving counter: (text, counter line head, base) parts."""

    def __init__(self, body: str) -> None:
        self.parts: list[tuple[str, str, float]] = []
        last = 0
        for m in _COUNTER.finditer(body):
            self.parts.append((body[last : m.start()], m.group(1), float(m.group(2))))
            last = m.end()
        self.tail = body[last:]

    def render(self, node: str, pace: float, now: float) -> bytes:
        """The body for `node`: every counter grown by `pace` × (its base + 1) per second
        since the start, so rates differ between programs and nodes."""
        out = []
        for text, head, base in self.parts:
            out.append(_NODE.sub(f'node="{node}"', text))
            out.append(f"{head} {base + pace * (base + 1.0) * now:.6g}")
        out.append(_NODE.sub(f'node="{node}"', self.tail))
        return "".join(out).encode()


async def serve(template: Template, first_port: int, count: int) -> None:
    started = time.monotonic()

    def handler(
        index: int,
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        node, pace = f"sim-{index:04d}", 0.001 * (1 + index % 7)

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if not head:
                        break
                    body = template.render(node, pace, time.monotonic() - started)
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        return answer

    servers = [
        await asyncio.start_server(handler(i), "127.0.0.1", first_port + i if first_port else 0)
        for i in range(count)
    ]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print("ready", json.dumps(ports), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


class Targets:
    """bench/fleet_targets.py serving `body` from `count` ports."""

    def __init__(self, body: str, count: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="devagent-fleet-"))
        recorded = self.dir / "metrics.prom"
        recorded.write_text(body)
        script = Path(__file__)
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(recorded), "0", str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split(" ", 1)
        if line[0] != "ready":
            self.stop()
            raise RuntimeError("bench/fleet_targets.py did not start")
        self.ports: list[int] = json.loads(line[1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    # a listening socket and a scraper's connection per target: past the usual 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path) as f:
        template = Template(f.read())
    asyncio.run(serve(template, first, count))


if __name__ == "__main__":
    main()
