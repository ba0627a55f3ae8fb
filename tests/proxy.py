"""A reverse proxy that rewrites Host, as nginx does by default (`proxy_pass
http://127.0.0.1:PORT;` sends `Host: 127.0.0.1:PORT`), for tests of the agent behind one.

    python -m tests.proxy LISTEN_PORT UPSTREAM_PORT

Run as its own process (started and stopped by PID). Paths go through unchanged (nginx's
proxy_pass without a URI part); X-Forwarded-For/-Host/-Proto are added as the README's nginx
snippet does, but the agent trusts none of them.
"""

from __future__ import annotations

import http.client
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
              "te", "trailer", "host", "content-length"}  # fmt: skip


def make_handler(upstream_port: int) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Host"] = f"127.0.0.1:{upstream_port}"  # nginx's default $proxy_host
            headers["X-Forwarded-For"] = self.client_address[0]
            headers["X-Forwarded-Host"] = self.headers.get("Host", "")
            headers["X-Forwarded-Proto"] = "http"
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body, headers)
                answer = upstream.getresponse()
                data = answer.read()
            except OSError as exc:
                self.send_error(502, f"upstream: {exc}")
                return
            finally:
                upstream.close()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_HEAD = do_OPTIONS = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Proxy


def main() -> None:
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", listen), make_handler(upstream))
    server.daemon_threads = True
    print("proxy: ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
