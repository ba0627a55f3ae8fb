"""The kernel matrix's guest runner: run by the guest's /init (scripts/matrix/init.sh) under
the kernel being tested, it probes the agent's features, runs the README's commands and the
server against real eBPF objects, a kprobe smoke test and tests/kernel, and writes one JSON
row per result to the second serial port (/dev/ttyS1), which the host reads back
(scripts/matrix/host.py). Progress and all output go to the console (ttyS0).

A row: {"group": ..., "feature": ..., "status": works|degraded|unavailable|FAIL|info,
"detail": ...}; group "meta" rows carry timings and the like, "test" rows one pytest test
each. The last line is {"done": true}: without it the host knows the guest died on the way.
Standard library only, plus the agent itself for nothing but what it is tested on.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shlex
import socket
import subprocess
import sys
import termios
import threading
import time
import tty
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path("/repo")
PIN_ROOT = Path("/sys/fs/bpf/matrix")
RESULTS_TTY = "/dev/ttyS1"
PY = sys.executable
SO_ATTACH_BPF = 50
ETH_P_ALL = 0x0003


class Results:
    """JSON lines on the results port (a file when the port is missing, for a dry run)."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 (closed at exit)
        if self.out.isatty():
            tty.setraw(self.out.fileno(), termios.TCSANOW)  # no CR added to each LF

    def row(self, group: str, feature: str, status: str, detail: str = "", **extra: Any) -> None:
        data = {"group": group, "feature": feature, "status": status, "detail": detail, **extra}
        self.out.write(json.dumps(data) + "\n")
        self.out.flush()
        if group != "test":
            print(f"matrix: [{group}] {feature}: {status} {detail}".rstrip(), flush=True)

    def done(self) -> None:
        self.out.write(json.dumps({"done": True}) + "\n")
        self.out.flush()
        os.fsync(self.out.fileno())


def step(title: str) -> None:
    print(f"\nmatrix: === {title} (uptime {uptime():.1f} s)", flush=True)


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run(args: list[str], timeout: float = 180, **kw: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        return subprocess.CompletedProcess(args, -9, out, f"timed out after {timeout:.0f} s")


class MemoryWatch:
    """Samples MemAvailable twice a second: the guest's peak memory use, for sizing -m."""

    def __init__(self) -> None:
        self.total = self._meminfo()["MemTotal"]
        self.min_available = self._meminfo()["MemAvailable"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def _meminfo() -> dict[str, int]:
        out = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])  # kB
        return out

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.min_available = min(self.min_available, self._meminfo()["MemAvailable"])

    def peak_used_mib(self) -> int:
        return (self.total - self.min_available) // 1024


# ---------------------------------------------------------------- setup


def load_modules(res: Results, config: dict[str, Any]) -> None:
    """insmod the modules the host picked (with their dependencies, in order)."""
    mod_dir = Path(config["modules_dir"])
    for name in config["modules"]:
        path = mod_dir / name
        proc = run(["/bin/busybox", "insmod", str(path)], timeout=60)
        if proc.returncode != 0 and "File exists" not in proc.stderr:
            res.row("setup", f"module {name}", "FAIL", last_line(proc.stderr or proc.stdout))
    for want in config["modules_wanted"]:
        if not Path(f"/sys/module/{want}").exists():
            res.row("setup", f"module {want}", "FAIL", "not loaded (see the console log)")


def set_memlock(res: Results, want: str) -> None:
    """RLIMIT_MEMLOCK: the kernel's default (64 KiB before 5.16), which kernels before 5.11
    charge every map against, as a root shell there has it; or what --memlock asks."""
    if want != "default":
        limit = resource.RLIM_INFINITY if want == "unlimited" else int(want) * 1024
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
    soft = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    shown = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"
    res.row("meta", "RLIMIT_MEMLOCK", "info", shown)


def print_facts() -> None:
    """A few facts about this kernel for the console log (what a failure may hinge on)."""
    for path in ("/proc/sys/kernel/kptr_restrict", "/proc/sys/kernel/perf_event_paranoid",
                 "/proc/sys/kernel/unprivileged_bpf_disabled", "/proc/sys/net/core/bpf_jit_enable",
                 "/sys/kernel/security/lockdown"):  # fmt: skip
        with contextlib.suppress(OSError):
            print(f"matrix: fact {path}: {Path(path).read_text().strip()}")
    with contextlib.suppress(OSError), open("/proc/kallsyms") as f:
        print(
            "matrix: fact /proc/kallsyms starts:",
            " | ".join(f.readline().strip() for _ in range(3)),
        )


def load_objects(res: Results, objects_dir: Path) -> None:
    """Each prebuilt object loaded once with bpftool -d on its own: says why one cannot
    load on this kernel (a test's CalledProcessError hides bpftool's message)."""
    for obj in sorted(objects_dir.glob("*.bpf.o")):
        pins = PIN_ROOT / "probe" / obj.name.split(".")[0]  # bpffs names have no dots
        pins.mkdir(parents=True, exist_ok=True)
        proc = run(["bpftool", "-d", "prog", "loadall", str(obj), str(pins / "progs"),
                    "pinmaps", str(pins / "maps")], timeout=300)  # fmt: skip
        if proc.returncode == 0:
            res.row("objects", f"bpftool prog loadall {obj.name}", "works")
        else:
            print(proc.stderr[-6000:])
            # Not a FAIL by itself: the tests pick the build this kernel loads (e.g. the
            # inspect-compat build before 5.17); this row says why the other one does not.
            res.row("objects", f"bpftool prog loadall {obj.name}", "unavailable",
                    load_error(proc.stderr))  # fmt: skip
        subprocess.run(["rm", "-rf", str(pins)], check=False)


def load_error(stderr: str) -> str:
    """The failing program and the verifier's last word, out of `bpftool -d` output."""
    lines = stderr.splitlines()
    failed = next((line for line in lines if "BPF program load failed" in line), "")
    verdict = ""
    if "-- END PROG LOAD LOG --" in lines:
        log = lines[: lines.index("-- END PROG LOAD LOG --")]
        stats = ("verification time", "stack depth", "processed ", "")
        verdict = next((x for x in reversed(log) if not x.startswith(stats)), "")
    words = ("failed", "error", "Error", "invalid")
    other = [x for x in lines if x.startswith("libbpf:") and any(w in x for w in words)]
    return " / ".join(filter(None, [failed or (other[:1] or [""])[0], verdict])) or last_line(
        stderr
    )


def enable_stats() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1\n")


def bpftool(*args: str) -> Any:
    proc = run(["bpftool", "-j", *args], timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"bpftool {' '.join(args)}: {last_line(proc.stderr or proc.stdout)}")
    return json.loads(proc.stdout) if proc.stdout.strip() else None


class Libc:
    """The few raw syscalls the setup needs, outside the agent (so a bug there cannot hide
    itself): bpf(BPF_OBJ_GET, BPF_LINK_CREATE), perf_event_open, ioctl."""

    SYS_BPF = 321  # x86-64
    SYS_PERF_EVENT_OPEN = 298
    BPF_OBJ_GET = 7
    BPF_LINK_CREATE = 28

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long

    def _bpf(self, cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
        fd = self.libc.syscall(self.SYS_BPF, cmd, attr, len(attr))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return int(fd)

    def obj_get(self, path: str) -> int:
        name = ctypes.create_string_buffer(path.encode())
        attr = ctypes.create_string_buffer(16)
        ctypes.memmove(attr, ctypes.addressof(name).to_bytes(8, "little"), 8)
        return self._bpf(self.BPF_OBJ_GET, attr)

    def link_create(self, prog_fd: int, target_fd: int, attach_type: int) -> int:
        attr = ctypes.create_string_buffer(64)
        ctypes.memmove(attr, b"".join(v.to_bytes(4, "little") for v in (
            prog_fd, target_fd, attach_type, 0)), 16)  # fmt: skip
        return self._bpf(self.BPF_LINK_CREATE, attr)

    def kprobe_event(self, func: str) -> int:
        """perf_event_open on the kprobe PMU for `func` (pid -1, cpu 0: as libbpf does)."""
        pmu = int(Path("/sys/bus/event_source/devices/kprobe/type").read_text())
        self._func = ctypes.create_string_buffer(func.encode())  # kept alive with the event
        attr = bytearray(72)  # PERF_ATTR_SIZE_VER1: up to config2
        attr[0:4] = pmu.to_bytes(4, "little")
        attr[4:8] = (72).to_bytes(4, "little")
        attr[56:64] = ctypes.addressof(self._func).to_bytes(8, "little")  # config1: kprobe_func
        buf = ctypes.create_string_buffer(bytes(attr), 72)
        fd = self.libc.syscall(self.SYS_PERF_EVENT_OPEN, buf, -1, 0, -1, 8)  # FD_CLOEXEC
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"perf_event_open(kprobe {func}): {os.strerror(err)}")
        return int(fd)

    def ioctl(self, fd: int, request: int, arg: int) -> None:
        if self.libc.ioctl(fd, ctypes.c_ulong(request), ctypes.c_ulong(arg)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


class Objects:
    """fixture.bpf.c loaded and pinned under /sys/fs/bpf/matrix, count_packets on a packet
    socket on lo (the tests' packet_fixture), an XDP link on lo and a cgroup_skb link on the
    cgroup2 root; ids of what the README commands are run on."""

    def __init__(self, objects_dir: Path) -> None:
        self.libc = Libc()
        self.fds: list[int] = []
        self.sock: socket.socket | None = None
        PIN_ROOT.mkdir(parents=True, exist_ok=True)
        progs, maps = PIN_ROOT / "progs", PIN_ROOT / "maps"
        bpftool("prog", "loadall", str(objects_dir / "fixture.bpf.o"), str(progs),
                "pinmaps", str(maps))  # fmt: skip
        self.prog_ids = {p.name: bpftool("prog", "show", "pinned", str(p))["id"]
                         for p in progs.iterdir()}  # fmt: skip
        self.map_ids = {p.name: bpftool("map", "show", "pinned", str(p))["id"]
                        for p in maps.iterdir()}  # fmt: skip
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        fd = self.libc.obj_get(str(progs / "count_packets"))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, fd)
        os.close(fd)
        self.pump()
        self.link_errors: dict[str, str] = {}
        for what, prog, target, attach_type in (
            ("xdp", "xdp_pass", "lo", 37),  # BPF_XDP
            ("cgroup", "cgroup_allow", "/sys/fs/cgroup", 0),  # BPF_CGROUP_INET_INGRESS
        ):
            prog_fd = self.libc.obj_get(str(progs / prog))
            target_fd = (
                socket.if_nametoindex(target)
                if what == "xdp"
                else os.open(target, os.O_RDONLY | os.O_DIRECTORY)
            )
            try:
                self.fds.append(self.libc.link_create(prog_fd, target_fd, attach_type))
            except OSError as exc:
                self.link_errors[what] = f"BPF_LINK_CREATE ({what}): {exc}"
            finally:
                os.close(prog_fd)
                if what == "cgroup":
                    os.close(target_fd)
        links = bpftool("link", "show") or []
        self.link_ids = [int(link["id"]) for link in links]

    @staticmethod
    def pump(packets: int = 20) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(packets):
                udp.sendto(b"x" * (16 + 40 * (i % 8)), ("127.0.0.1", 9))
        time.sleep(0.1)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        for fd in self.fds:
            os.close(fd)
        subprocess.run(["rm", "-rf", str(PIN_ROOT)], check=False)


# ---------------------------------------------------------------- 1. feature probe


def feature_probe(res: Results) -> None:
    step("1. python3 -m devagent inspect features --json")
    proc = run([PY, "-m", "devagent", "inspect", "features", "--json"])
    if proc.returncode == 2 and "No such command" in proc.stderr:
        res.row("features", "inspect features", "unavailable",
                "`inspect features` does not exist yet in this tree")  # fmt: skip
        return
    if proc.returncode != 0:
        res.row("features", "inspect features", "FAIL",
                f"exit {proc.returncode}: {last_line(proc.stderr)}")  # fmt: skip
        return
    try:
        rows = json.loads(proc.stdout)
        assert isinstance(rows, list)
    except (ValueError, AssertionError) as exc:
        res.row("features", "inspect features", "FAIL", f"not a JSON array: {exc}")
        return
    for item in rows:
        status = item.get("status")
        if status not in ("works", "degraded", "unavailable"):
            status, item["detail"] = "FAIL", f"bad status {status!r}: {item.get('detail')}"
        res.row("features", str(item.get("name")), status, str(item.get("detail") or ""),
                since=item.get("since"))  # fmt: skip


# ---------------------------------------------------------------- 2. README features


def cli(res: Results, label: str, *args: str, expect_json: bool | None = None) -> Any:
    """Run `python3 -m devagent ARGS`: works when it exits 0 (and its --json parses)."""
    started = time.monotonic()
    proc = run([PY, "-m", "devagent", *args])
    took = f"{time.monotonic() - started:.1f} s"
    if proc.returncode != 0:
        res.row("README", label, "FAIL",
                f"exit {proc.returncode}: {last_line(proc.stderr or proc.stdout)}")  # fmt: skip
        return None
    if expect_json or (expect_json is None and "--json" in args):
        try:
            data = json.loads(proc.stdout)
        except ValueError as exc:
            res.row("README", label, "FAIL", f"output is not JSON: {exc}")
            return None
        res.row("README", label, "works", took)
        return data
    if not proc.stdout.strip():
        res.row("README", label, "FAIL", "printed nothing")
        return None
    res.row("README", label, "works", took)
    return proc.stdout


def readme_cli(res: Results, objs: Objects, tmp: Path) -> None:
    step("2. README CLI commands")
    prog = str(objs.prog_ids["count_packets"])
    packet = tmp / "packet.bin"
    packet.write_bytes(bytes(range(64)))
    cli(res, "about", "about")
    cli(res, "--version", "--version")
    for json_flag in ((), ("--json",)):
        suffix = " --json" if json_flag else ""
        cli(res, f"inspect progs list{suffix}", "inspect", "progs", "list", *json_flag)
        cli(res, f"inspect progs show ID{suffix}", "inspect", "progs", "show", prog, *json_flag)
        cli(res, f"inspect progs dump ID xlated{suffix}",
            "inspect", "progs", "dump", prog, "xlated", *json_flag)  # fmt: skip
        cli(res, f"inspect progs dump ID jited{suffix}",
            "inspect", "progs", "dump", prog, "jited", *json_flag)  # fmt: skip
        cli(res, f"inspect progs run ID --data-in FILE --repeat 10{suffix}", "inspect", "progs",
            "run", prog, "--data-in", str(packet), "--repeat", "10", *json_flag)  # fmt: skip
        cli(res, f"inspect maps list{suffix}", "inspect", "maps", "list", *json_flag)
        for map_name in ("AT_pkts", "pcpu_counters"):
            map_id = str(objs.map_ids[map_name])
            cli(res, f"inspect maps show ID ({map_name}){suffix}",
                "inspect", "maps", "show", map_id, *json_flag)  # fmt: skip
            for fmt in ("hex", "string", "number", "btf"):
                cli(res, f"inspect maps dump ID --format {fmt} ({map_name}){suffix}",
                    "inspect", "maps", "dump", map_id, "--format", fmt, *json_flag)  # fmt: skip
        cli(res, f"inspect links list{suffix}", "inspect", "links", "list", *json_flag)
        for link_id in objs.link_ids[:2]:
            cli(res, f"inspect links show ID{suffix}",
                "inspect", "links", "show", str(link_id), *json_flag)  # fmt: skip
    cli(res, "inspect progs dump ID xlated --opcodes --linum",
        "inspect", "progs", "dump", prog, "xlated", "--opcodes", "--linum")  # fmt: skip
    cli(res, "inspect maps --bpf_dir DIR list", "inspect", "maps", "--bpf_dir", str(PIN_ROOT),
        "list")  # fmt: skip
    cli(res, "inspect links list --bpf_dir DIR", "inspect", "links", "list", "--bpf_dir",
        str(PIN_ROOT))  # fmt: skip
    for what, error in objs.link_errors.items():
        res.row("README", f"inspect links show ID ({what} link)", "FAIL", f"setup: {error}")
    cli(res, "top --count 1 --json", "top", "--count", "1", "--json")
    cli(res, "top --count 1 --json --no-program-iterator",
        "top", "--count", "1", "--json", "--no-program-iterator")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, body: bytes | None = None, timeout: float = 60) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextlib.contextmanager
def server(log_path: Path) -> Iterator[str | None]:
    """`python3 -m devagent server --listen 127.0.0.1 --skip-welcome` on a free PORT; yields
    its URL once /healthz answers, or None."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [PY, "-m", "devagent", "server", "--listen", "127.0.0.1", "--skip-welcome"],
            env={**os.environ, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = http(url + "/healthz", timeout=5)[0] == 200
            except OSError:
                ready = False
            if ready:
                break
            time.sleep(0.5)
        yield url if ready else None
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def graphql(url: str, query: str) -> tuple[Any, str]:
    """(data, error text) of a POST to /query."""
    status, body = http(url + "/query", json.dumps({"query": query}).encode())
    if status != 200:
        return None, f"HTTP {status}: {body[:200]!r}"
    doc = json.loads(body)
    if doc.get("errors"):
        return doc.get("data"), f"errors: {json.dumps(doc['errors'])[:300]}"
    return doc.get("data"), ""


def readme_server(res: Results, objs: Objects, kprobe: Kprobe | None, tmp: Path) -> None:
    step("2b. README server")
    log = tmp / "server.log"
    with server(log) as url:
        if url is None:
            res.row("README", "server starts", "FAIL",
                    last_line(log.read_text()) or "no answer on /healthz in 120 s")  # fmt: skip
            return
        res.row("README", "server starts", "works")
        query = "{ programs { id name type runCount } maps { id name type entriesCount } }"
        try:
            data, error = graphql(url, query)
            ids = {p["id"] for p in (data or {}).get("programs", [])}
            if error:
                res.row("README", "server /query", "FAIL", error)
            elif objs.prog_ids["count_packets"] not in ids:
                res.row("README", "server /query", "FAIL", "count_packets missing from programs")
            else:
                res.row("README", "server /query", "works")
        except (OSError, ValueError) as exc:
            res.row("README", "server /query", "FAIL", str(exc))
        for path, must in (
            ("/metrics", b"devagent_ebpf_prog_info"),
            ("/readyz", b"ok"),
            ("/ui/", b"<"),
            ("/", b"<"),
        ):
            try:
                status, body = http(url + path)
                if status == 200 and must in body:
                    res.row("README", f"server GET {path}", "works")
                else:
                    res.row("README", f"server GET {path}", "FAIL",
                            f"HTTP {status}: {body[:200]!r}")  # fmt: skip
            except OSError as exc:
                res.row("README", f"server GET {path}", "FAIL", str(exc))
        if kprobe is not None:
            kprobe.check_server(res, url)


# ---------------------------------------------------------------- 4. kprobe


class Kprobe:
    """scripts/matrix/kprobe.bpf.c loaded with bpftool, attached to __x64_sys_getpid through a
    kprobe perf event held by this process (a "task" of the program)."""

    FUNC = "__x64_sys_getpid"

    def __init__(self, res: Results, objects_dir: Path) -> None:
        self.res = res
        self.libc = Libc()
        pins = PIN_ROOT / "kprobe"
        pins.mkdir(parents=True, exist_ok=True)
        bpftool("prog", "loadall", str(objects_dir / "kprobe.bpf.o"), str(pins / "progs"),
                "pinmaps", str(pins / "maps"))  # fmt: skip
        pin = str(pins / "progs" / "matrix_kprobe")
        self.prog_id = int(bpftool("prog", "show", "pinned", pin)["id"])
        prog_fd = self.libc.obj_get(pin)
        try:
            self.event_fd = self.libc.kprobe_event(self.FUNC)
            self.libc.ioctl(self.event_fd, 0x40042408, prog_fd)  # PERF_EVENT_IOC_SET_BPF
            self.libc.ioctl(self.event_fd, 0x2400, 0)  # PERF_EVENT_IOC_ENABLE
        finally:
            os.close(prog_fd)
        for _ in range(50):
            os.getpid()  # Python caches nothing here: each is a getpid() syscall
        ctypes.CDLL(None).syscall(39)  # and one raw SYS_getpid

    def check_cli(self) -> None:
        res = self.res
        proc = run([PY, "-m", "devagent", "inspect", "progs", "list", "--json"])
        if proc.returncode != 0:
            res.row("kprobe", "listed as Kprobe", "FAIL", last_line(proc.stderr))
            return
        progs = {p.get("id"): p for p in json.loads(proc.stdout)}
        prog = progs.get(self.prog_id)
        if prog is None:
            res.row("kprobe", "listed as Kprobe", "FAIL", f"id {self.prog_id} not listed")
        elif prog.get("type") != "Kprobe":
            res.row("kprobe", "listed as Kprobe", "FAIL", f"type {prog.get('type')!r}")
        elif not prog.get("runCount"):
            res.row("kprobe", "listed as Kprobe", "FAIL", "runCount 0 after getpid() calls")
        else:
            res.row("kprobe", "listed as Kprobe", "works", f"runCount {prog['runCount']}")

    def check_server(self, res: Results, url: str) -> None:
        query = "{ programs { id type tasks { pid fd type name } } }"
        try:
            data, error = graphql(url, query)
        except (OSError, ValueError) as exc:
            res.row("kprobe", "task in GraphQL", "FAIL", str(exc))
            return
        if error:
            res.row("kprobe", "task in GraphQL", "FAIL", error)
            return
        prog = next((p for p in data["programs"] if p["id"] == self.prog_id), None)
        tasks = (prog or {}).get("tasks") or []
        mine = [t for t in tasks if t.get("pid") == os.getpid()]
        if not mine:
            res.row("kprobe", "task in GraphQL", "FAIL", f"tasks {tasks!r}, pid {os.getpid()}")
        elif self.FUNC not in str(mine[0].get("name")):
            res.row("kprobe", "task in GraphQL", "FAIL", f"task {mine[0]!r}")
        else:
            res.row("kprobe", "task in GraphQL", "works",
                    f"{mine[0].get('type')} {mine[0].get('name')}")  # fmt: skip

    def close(self) -> None:
        os.close(self.event_fd)


# ---------------------------------------------------------------- 3. tests/kernel


def first_lines(text: str, n: int = 6) -> str:
    lines = [line.rstrip() for line in (text or "").strip().splitlines() if line.strip()]
    # pytest's long text starts with the source; the "E " lines say what failed.
    errors = [line for line in lines if line.lstrip().startswith("E ")]
    return "\n".join((errors or lines)[:n])


def kernel_tests(res: Results, config: dict[str, Any], tmp: Path) -> None:
    args = shlex.split(config["tests"])
    if not any(a.startswith("tests/") for a in args):
        args = ["tests/kernel", *args]
    step(f"3. pytest {' '.join(args)}")
    junit = tmp / "junit.xml"
    env = {**os.environ, "DEVAGENT_REQUIRE_KERNEL": "1",
           "DEVAGENT_BPF_OBJECTS": config["objects_dir"]}  # fmt: skip
    started = time.monotonic()
    cmd = [PY, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra",
           "-o", "junit_family=xunit1", f"--junitxml={junit}", "--durations=15"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False)  # output: the console
    took = time.monotonic() - started
    res.row("meta", "tests seconds", "info", f"{took:.0f}")
    if not junit.exists():
        res.row("tests", "tests/kernel", "FAIL", f"pytest exited {proc.returncode}, no report")
        return
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for case in ET.parse(junit).iter("testcase"):
        file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        nodeid = f"{file}::{case.get('name')}"
        status, detail = "works", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status = "FAIL"
                where = "" if child.tag == "failure" else "error in setup/teardown: "
                detail = where + first_lines(child.text or child.get("message", ""))
                break
            if child.tag == "skipped":
                status, detail = "unavailable", child.get("message", "skipped")
        key = {"works": "passed", "FAIL": "failed", "unavailable": "skipped"}[status]
        counts[key] += 1
        res.row("test", nodeid, status, detail, file=file)
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    status = "FAIL" if counts["failed"] or proc.returncode not in (0, 5) else "works"
    if proc.returncode not in (0, 1, 5):
        summary += f" (pytest exited {proc.returncode})"
    res.row("tests", "tests/kernel", status, f"{summary} in {took:.0f} s")


# ---------------------------------------------------------------- main


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    results_path = RESULTS_TTY if Path(RESULTS_TTY).exists() else "/tmp/matrix-results.jsonl"
    res = Results(results_path)
    watch = MemoryWatch()
    tmp = Path("/tmp/matrix")
    tmp.mkdir(parents=True, exist_ok=True)
    res.row("meta", "uname", "info", os.uname().release)
    res.row("meta", "boot seconds", "info", f"{uptime():.1f}")
    try:
        set_memlock(res, config.get("memlock", "default"))
        print_facts()
        load_modules(res, config)
        enable_stats()
        objects_dir = Path(config["objects_dir"])
        load_objects(res, objects_dir)
        started = time.monotonic()
        feature_probe(res)
        res.row("meta", "features seconds", "info", f"{time.monotonic() - started:.0f}")
        started = time.monotonic()
        objs: Objects | None = None
        try:
            objs = Objects(objects_dir)
        except (OSError, RuntimeError, KeyError) as exc:
            res.row("README", "load fixture.bpf.o (bpftool)", "FAIL", str(exc))
        kprobe: Kprobe | None = None
        if not Path("/sys/bus/event_source/devices/kprobe").exists():
            res.row("kprobe", "attach", "unavailable", "no kprobe PMU (CONFIG_KPROBES off?)")
        else:
            try:
                kprobe = Kprobe(res, objects_dir)
                res.row("kprobe", "attach", "works", f"perf event on {Kprobe.FUNC}")
                kprobe.check_cli()
            except (OSError, RuntimeError, KeyError) as exc:
                res.row("kprobe", "attach", "FAIL", str(exc))
        if objs is not None:
            readme_cli(res, objs, tmp)
            readme_server(res, objs, kprobe, tmp)
            objs.close()
        if kprobe is not None:
            kprobe.close()
        subprocess.run(["rm", "-rf", str(PIN_ROOT)], check=False)
        res.row("meta", "README seconds", "info", f"{time.monotonic() - started:.0f}")
        if config["tests"] != "none":
            kernel_tests(res, config, tmp)
    except Exception as exc:  # the rows so far still reach the host
        res.row("meta", "runner", "FAIL", f"{type(exc).__name__}: {exc}")
        import traceback

        traceback.print_exc()
    res.row("meta", "peak memory MiB", "info", str(watch.peak_used_mib()))
    res.row("meta", "memory total MiB", "info", str(watch.total // 1024))
    res.row("meta", "runner seconds", "info", f"{uptime():.0f}")
    res.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
