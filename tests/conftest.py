"""Shared test harness: real eBPF objects built from tests/bpf/*.bpf.c, loaded with bpftool
into a private bpffs mount, with a socket filter on loopback so counters move for real.

Without eBPF privileges or the build tools, kernel tests skip; with DEVAGENT_REQUIRE_KERNEL=1
(as .ci/run sets) they fail instead, so a green CI means they really ran.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.bpf.builds import BUILDS

if TYPE_CHECKING:
    from devagent.bpf.features import Feature
    from tests.pump import PacketPump

ROOT = Path(__file__).resolve().parent.parent
BPF_SRC = ROOT / "tests" / "bpf"
REQUIRE_KERNEL = os.environ.get("DEVAGENT_REQUIRE_KERNEL") == "1"
# Prebuilt tests/bpf objects (scripts/kernel-matrix builds them for guests without clang).
BPF_OBJECTS = os.environ.get("DEVAGENT_BPF_OBJECTS")
SO_ATTACH_BPF = 50
ETH_P_ALL = 0x0003


def kernel_unavailable_reason() -> str | None:
    """Why kernel tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "not root (kernel tests need CAP_BPF + CAP_SYS_ADMIN)"
    for tool in ("bpftool",) if BPF_OBJECTS else ("clang", "bpftool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the test command installs it)"
    from devagent.bpf.errors import BPFError
    from devagent.bpf.handles import iter_map_ids

    try:
        next(iter_map_ids(), None)
    except BPFError as exc:
        return f"bpf() is not usable: {exc}"
    return None


@functools.cache
def kernel_features() -> dict[str, Feature]:
    """The agent's feature table for this kernel (devagent.bpf.features), probed once."""
    from devagent.bpf.features import probe_features

    return {f.name: f for f in probe_features()}


def lacks(field: str) -> bool:
    """Whether this kernel's bpf_prog_info lacks `field` (the feature table says so; the
    agent then shows None): tests expect None there instead of a number."""
    row = kernel_features()["prog_info_fields"]
    return row.status != "works" and f"{field} (" in row.detail


def require_kernel() -> None:
    """Skip (or, under DEVAGENT_REQUIRE_KERNEL=1, fail) when kernel tests cannot run."""
    reason = kernel_unavailable_reason()
    if reason is None:
        return
    if REQUIRE_KERNEL:
        pytest.fail(f"DEVAGENT_REQUIRE_KERNEL=1 but {reason}")
    pytest.skip(reason)


def bpftool_json(*args: str) -> object:
    """Run `bpftool -j ARGS` and parse its JSON output."""
    out = subprocess.run(
        ["bpftool", "-j", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out) if out.strip() else None


def bpftool_by_id(kind: str) -> dict[int, dict[str, object]]:
    """`bpftool -j KIND show`, by object id."""
    listing = bpftool_json(kind, "show")
    assert isinstance(listing, list)
    return {int(obj["id"]): obj for obj in listing}


def stable_ids(
    ours: Iterable[int], before: Iterable[int], after: Iterable[int], own: Iterable[int] = ()
) -> set[int]:
    """The ids of a host-wide listing that can be compared with a reference taken `before`
    and `after` it: objects that existed throughout. Other processes create and remove
    objects meanwhile (ids present in only one listing are theirs), but every object of
    both reference listings must be in ours, and so must the test's `own` objects."""
    mine, first, last = set(ours), set(before), set(after)
    stable = first & last
    missing = stable - mine
    assert not missing, f"objects listed before and after ours are missing from ours: {missing}"
    assert set(own) <= mine, f"the test's own objects are missing: {set(own) - mine}"
    return stable


# How `run_phydev(..., unprivileged=...)` drops privileges, with util-linux's setpriv:
# - "nobody": uid/gid 65534 with only CAP_DAC_READ_SEARCH + CAP_DAC_OVERRIDE, so it can read
#   the interpreter wherever it lives (e.g. under /root, mode 700) but has no CAP_BPF,
#   CAP_SYS_ADMIN or CAP_PERFMON: a normal user as far as bpf() is concerned;
# - "nocaps": uid 0 with an empty capability bounding set: root by name, not by power;
# - "user": uid/gid 65534 with no capabilities at all: a plain login user, who can neither
#   write a clone root set up nor read an interpreter under /root.
_FILE_CAPS = "-all,+dac_override,+dac_read_search"
UNPRIVILEGED = {
    "nobody": [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        f"--inh-caps={_FILE_CAPS}", f"--ambient-caps={_FILE_CAPS}", f"--bounding-set={_FILE_CAPS}",
    ],
    "nocaps": ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"],
    "user": [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
        "--ambient-caps=-all", "--bounding-set=-all",
    ],
}  # fmt: skip


def run_phydev(
    *args: str,
    check: bool = True,
    env: dict[str, str] | None = None,
    unprivileged: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `phydev` console script as a separate process (optionally with the
    privileges dropped, see UNPRIVILEGED)."""
    exe = Path(sys.executable).parent / "phydev"
    wrapper = [*UNPRIVILEGED[unprivileged], "--"] if unprivileged else []
    return subprocess.run(
        [*wrapper, str(exe), *args],
        check=check,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def without_package(name: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess in which `import NAME` fails: a package of that name whose
    import raises ImportError comes first on PYTHONPATH (to test an optional dependency's
    absence without uninstalling it)."""
    fake = tmp_path / name
    fake.mkdir()
    (fake / "__init__.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    }


def build_bpf(name: str, out_dir: Path) -> Path:
    """Object `name` of tests/bpf/builds.py, compiled with clang -O2 -g -target bpf (it
    carries BTF for map keys and values); with DEVAGENT_BPF_OBJECTS=DIR, the one prebuilt
    there (scripts/kernel-matrix builds them for guests without clang)."""
    if BPF_OBJECTS:
        return Path(BPF_OBJECTS) / name
    source, cflags = BUILDS[name]
    obj = out_dir / name
    if not obj.exists():
        arch_inc = f"/usr/include/{os.uname().machine}-linux-gnu"
        subprocess.run(
            ["clang", "-O2", "-g", "-target", "bpf", *cflags, f"-I{arch_inc}", "-c",
             str(BPF_SRC / source), "-o", str(obj)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    return obj


@dataclass
class LoadedObject:
    """A compiled .bpf.o loaded with `bpftool prog loadall` into a private bpffs mount."""

    bpffs: Path
    prog_ids: dict[str, int] = field(default_factory=dict)
    map_ids: dict[str, int] = field(default_factory=dict)

    def prog_pin(self, name: str) -> str:
        return str(self.bpffs / "progs" / name)

    def map_pin(self, name: str) -> str:
        return str(self.bpffs / "maps" / name)


BPFFS_PREFIX = "devagent-bpffs-"
VETH_PREFIX = "dvx"  # + pid: the test interface XDP links attach to (its peer is "dvy" + pid)


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def sweep_stale_test_objects() -> None:
    """Unmount the bpffs mounts and delete the veth pairs of test sessions that died without
    their teardown (SIGKILL, a CI timeout): a pinned XDP link left in such a mount stays
    attached and makes every later LINK_CREATE on that device fail with EBUSY."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1]
        found = re.match(rf"{re.escape(tempfile.gettempdir())}/{BPFFS_PREFIX}(\d+)-", target)
        if found and not _pid_alive(int(found.group(1))):
            subprocess.run(["umount", target], check=False, capture_output=True)
            shutil.rmtree(target, ignore_errors=True)
    for dev in Path("/sys/class/net").iterdir():
        found = re.fullmatch(rf"{VETH_PREFIX}(\d+)", dev.name)
        if found and not _pid_alive(int(found.group(1))):
            subprocess.run(["ip", "link", "del", dev.name], check=False, capture_output=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() == 0:
        sweep_stale_test_objects()


class SessionInterface:
    """A veth pair of this session's own: links attach to it, so a concurrent session (or a
    program someone else attached to lo) never makes LINK_CREATE fail with EBUSY."""

    def __init__(self) -> None:
        self.name = f"{VETH_PREFIX}{os.getpid()}"
        peer = f"dvy{os.getpid()}"
        subprocess.run(["ip", "link", "del", self.name], check=False, capture_output=True)
        subprocess.run(
            ["ip", "link", "add", self.name, "type", "veth", "peer", "name", peer],
            check=True, capture_output=True,
        )  # fmt: skip
        self.ifindex = socket.if_nametoindex(self.name)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.name], check=False, capture_output=True)


class BpffsMount:
    """A private bpffs instance in a temp dir; unmounting it drops every pin inside."""

    def __init__(self) -> None:
        # The pid in the name lets a later session unmount what a killed one left behind.
        self.path = Path(tempfile.mkdtemp(prefix=f"{BPFFS_PREFIX}{os.getpid()}-"))
        subprocess.run(["mount", "-t", "bpf", "bpf", str(self.path)], check=True)

    def close(self) -> None:
        subprocess.run(["umount", str(self.path)], check=False)
        shutil.rmtree(self.path, ignore_errors=True)


def load_object(obj: Path, mount: BpffsMount, subdir: str = "") -> LoadedObject:
    """Load every program of `obj`, pinning programs and maps under the mount."""
    base = mount.path / subdir if subdir else mount.path
    base.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "bpftool",
            "prog",
            "loadall",
            str(obj),
            str(base / "progs"),
            "pinmaps",
            str(base / "maps"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    loaded = LoadedObject(base)
    for pin in sorted((base / "progs").iterdir()):
        info = bpftool_json("prog", "show", "pinned", str(pin))
        assert isinstance(info, dict)
        loaded.prog_ids[pin.name] = int(info["id"])
    for pin in sorted((base / "maps").iterdir()):
        info = bpftool_json("map", "show", "pinned", str(pin))
        assert isinstance(info, dict)
        loaded.map_ids[pin.name] = int(info["id"])
    return loaded


@dataclass
class PacketFixture:
    """The main fixture: fixture.bpf.c loaded, count_packets attached to a loopback socket."""

    obj: LoadedObject
    mount: BpffsMount
    sock: socket.socket

    @property
    def bpf_dir(self) -> str:
        return str(self.mount.path)

    def pump(self, packets: int = 10) -> None:
        """Send UDP packets over loopback; the attached socket filter sees each of them."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(packets):
                udp.sendto(b"x" * (16 + 40 * (i % 8)), ("127.0.0.1", 9))
        time.sleep(0.05)


@pytest.fixture(scope="session")
def build_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="devagent-build-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class StatsHold:
    """The session's BPF_ENABLE_STATS fd. `suspended()` lets go of it for a test that needs
    run statistics off (e.g. to see that `phydev server --enable-stats` turns them on)."""

    def __init__(self) -> None:
        from devagent.bpf.stats import enable_stats

        self._enable = enable_stats
        self.fd = enable_stats()

    @contextmanager
    def suspended(self) -> Iterator[None]:
        self.fd.close()
        try:
            yield
        finally:
            self.fd = self._enable()

    def close(self) -> None:
        self.fd.close()


@pytest.fixture(scope="session")
def stats_enabled() -> Iterator[StatsHold]:
    """Turn run statistics on (BPF_ENABLE_STATS fd) for the session, so run counts move."""
    require_kernel()
    hold = StatsHold()
    yield hold
    hold.close()


@pytest.fixture(scope="session")
def packet_fixture(build_dir: Path, stats_enabled: StatsHold) -> Iterator[PacketFixture]:
    """fixture.bpf.c loaded and pinned in a private bpffs, count_packets attached to an
    AF_PACKET socket on lo, the program array and LPM trie populated, traffic pumped."""
    require_kernel()
    obj_file = build_bpf("fixture.bpf.o", build_dir)
    mount = BpffsMount()
    sock: socket.socket | None = None
    try:
        obj = load_object(obj_file, mount)
        subprocess.run(
            [
                "bpftool",
                "map",
                "update",
                "pinned",
                obj.map_pin("jmp_table"),
                "key",
                "0",
                "0",
                "0",
                "0",
                "value",
                "pinned",
                obj.prog_pin("tail_target"),
            ],
            check=True,
            capture_output=True,
        )
        for prefix, addr, value in ((8, (10, 0, 0, 0), 1), (24, (192, 168, 1, 0), 2)):
            key = [prefix, 0, 0, 0, *addr]
            subprocess.run(
                [
                    "bpftool",
                    "map",
                    "update",
                    "pinned",
                    obj.map_pin("lpm"),
                    "key",
                    *map(str, key),
                    "value",
                    str(value),
                    "0",
                    "0",
                    "0",
                ],
                check=True,
                capture_output=True,
            )
        from devagent.bpf.pins import open_pinned

        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind(("lo", 0))
        with open_pinned(obj.prog_pin("count_packets")) as prog_fd:
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog_fd.fd)
        fixture = PacketFixture(obj, mount, sock)
        fixture.pump(20)
        yield fixture
    finally:
        if sock is not None:
            sock.close()
        mount.close()


@dataclass
class InspectFixture:
    """inspect.bpf.c loaded in a private bpffs: programs of six types with subprograms, a
    loop, atomics, map-in-map, a tail call, global variables and bpf_metadata_* variables.
    `compat`: the kernel has no bpf_loop (before 5.17), so the build without bpf_loop and
    without atomics that fetch is loaded (tests/bpf/builds.py)."""

    obj: LoadedObject
    mount: BpffsMount
    compat: bool = False

    def prog_id(self, name: str) -> int:
        return self.obj.prog_ids[name]


@pytest.fixture(scope="session")
def inspect_fixture(build_dir: Path, stats_enabled: StatsHold) -> Iterator[InspectFixture]:
    require_kernel()
    from devagent.bpf.features import Probe

    helpers = Probe().enum_names("bpf_func_id")
    compat = helpers is not None and "BPF_FUNC_loop" not in helpers
    name = "inspect-compat.bpf.o" if compat else "inspect.bpf.o"
    obj_file = build_bpf(name, build_dir)
    mount = BpffsMount()
    try:
        obj = load_object(obj_file, mount, "inspect")
        subprocess.run(
            ["bpftool", "map", "update", "pinned", obj.map_pin("jumps"), "key", "0", "0", "0",
             "0", "value", "pinned", obj.prog_pin("inspect_tail")],
            check=True, capture_output=True,
        )  # fmt: skip
        yield InspectFixture(obj, mount, compat)
    finally:
        mount.close()


@pytest.fixture
def kernel() -> None:
    """Request this in any test that needs eBPF privileges."""
    require_kernel()


@dataclass
class LinkFixture:
    """Real links made with BPF_LINK_CREATE: XDP on this session's veth and cgroup_skb
    ingress on the cgroup2 root; the XDP link is also pinned in the private bpffs."""

    xdp_link_id: int
    cgroup_link_id: int
    xdp_pin: str
    cgroup_path: str
    devname: str  # the interface the XDP link is attached to


@pytest.fixture(scope="session")
def link_fixture(packet_fixture: PacketFixture) -> Iterator[LinkFixture]:
    from devagent.bpf.cgroups import cgroup2_mount
    from devagent.bpf.links import create_link
    from devagent.bpf.names import ATTACH_TYPES
    from devagent.bpf.objects import link_info
    from devagent.bpf.pins import open_pinned, pin_object

    cg_root = cgroup2_mount()
    if cg_root is None:
        pytest.fail("no cgroup2 mount: cgroup links cannot be tested")
    obj = packet_fixture.obj
    xdp_prog = open_pinned(obj.prog_pin("xdp_pass"))
    cg_prog = open_pinned(obj.prog_pin("cgroup_allow"))
    cg_fd = os.open(cg_root, os.O_RDONLY | os.O_DIRECTORY)
    dev = SessionInterface()
    try:
        xdp_link = create_link(xdp_prog.fd, dev.ifindex, ATTACH_TYPES.index("xdp"))
        cg_link = create_link(cg_prog.fd, cg_fd, ATTACH_TYPES.index("cgroup_inet_ingress"))
        xdp_pin = str(packet_fixture.mount.path / "xdp_test_link")
        pin_object(xdp_link, xdp_pin)
        ids = link_info(xdp_link).id, link_info(cg_link).id
        yield LinkFixture(*ids, xdp_pin, cg_root, dev.name)
        os.unlink(xdp_pin)
        xdp_link.close()
        cg_link.close()
    finally:
        dev.close()
        os.close(cg_fd)
        xdp_prog.close()
        cg_prog.close()


# ---------------------------------------------------------------- metrics / server helpers


def first_u64(cells: list[str]) -> int:
    """The first 8 bytes of a value bpftool printed as hex cells, as a native-endian u64
    (zero-padded): what the exporter puts in devagent_ebpf_map_entry_value."""
    raw = bytes(int(c, 16) for c in cells)[:8]
    return int.from_bytes(raw.ljust(8, b"\0"), sys.byteorder)


def kernel_map_entries(map_id: int) -> dict[bytes, list[int]]:
    """What `bpftool map dump` reads from the kernel: raw key -> the first 8 bytes of the
    value as a native-endian u64 (zero-padded), one per CPU for per-CPU maps."""
    out: dict[bytes, list[int]] = {}
    dump = bpftool_json("map", "dump", "id", str(map_id)) or []
    assert isinstance(dump, list)
    for entry in dump:
        key = bytes(int(c, 16) for c in entry["key"])
        if "values" in entry:
            cpus = sorted(entry["values"], key=lambda v: int(v["cpu"]))
            out[key] = [first_u64(v["value"]) for v in cpus]
        else:
            out[key] = [first_u64(entry["value"])]
    return out


def free_port() -> int:
    """A TCP port nobody listens on right now (never 9090: a system Prometheus may own it)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 9090:
            return port


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class PhydevServer:
    """A real `phydev server` process on 127.0.0.1 (started by PID, stopped by PID)."""

    def __init__(
        self,
        *args: str,
        bpf_dir: str,
        env: dict[str, str] | None = None,
        unprivileged: str | None = None,
    ) -> None:
        self.port = free_port()
        exe = Path(sys.executable).parent / "phydev"
        wrapper = [*UNPRIVILEGED[unprivileged], "--"] if unprivileged else []
        cmd = [*wrapper, str(exe), "server", "--listen", "127.0.0.1", "--skip-welcome"]
        # A file, not a pipe: nobody reads while it runs, and access logs would fill a pipe.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [*cmd, "--bpf_dir", bpf_dir, *args],
            env={**os.environ, **(env or {}), "PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self._output = ""

    def wait_ready(self, timeout: float = 20.0, path: str = "/metrics") -> None:
        """Poll `path` until it answers 200 (the default also proves a scrape works)."""
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"phydev server exited {code}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"phydev server not ready on port {self.port} in {timeout}s")

    def get(self, path: str, accept: str | None = None) -> tuple[str, str]:
        """(body, content type) of GET path."""
        import urllib.request

        req = urllib.request.Request(self.url + path, headers={"Accept": accept} if accept else {})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read().decode(), resp.headers.get("Content-Type", "")

    def output(self) -> str:
        """What the server printed (stdout and stderr) so far."""
        if self.log.closed:
            return self._output
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> tuple[int, str]:
        """Stop the server (SIGTERM, then SIGKILL); returns (exit code, output). Idempotent."""
        if self.log.closed:
            return self.proc.returncode, self._output
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._output = self.output()
        self.log.close()
        return self.proc.returncode, self._output


@dataclass
class FrozenCounters:
    """A second copy of fixture.bpf.c whose socket filter counted real loopback packets (IPv4
    and IPv6) into its own `AT_pkts` and was then detached: the counts no longer move, so a
    scraper's values can be compared with the kernel's for equality."""

    obj: LoadedObject
    mount: BpffsMount

    @property
    def at_map_id(self) -> int:
        return self.obj.map_ids["AT_pkts"]


@pytest.fixture(scope="session")
def frozen_counters(build_dir: Path, stats_enabled: StatsHold) -> Iterator[FrozenCounters]:
    # Statistics on first: the program's run count and time are frozen with the map counts,
    # and tests (the container ones) expect them above zero whichever test made the copy.
    require_kernel()
    from devagent.bpf.pins import open_pinned

    obj_file = build_bpf("fixture.bpf.o", build_dir)
    mount = BpffsMount()
    try:
        obj = load_object(obj_file, mount, "frozen")
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
            sock.bind(("lo", 0))
            with open_pinned(obj.prog_pin("count_packets")) as prog_fd:
                sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog_fd.fd)
            for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                with socket.socket(family, socket.SOCK_DGRAM) as udp:
                    for i in range(25):
                        udp.sendto(b"y" * (8 + i), (addr, 9))
            time.sleep(0.05)
        # The socket is closed: the filter is detached and AT_pkts keeps its counts.
        yield FrozenCounters(obj, mount)
    finally:
        mount.close()


@pytest.fixture(scope="session")
def packet_pump(stats_enabled: StatsHold) -> Iterator[PacketPump]:
    """A socket filter whose run count moves only with the datagrams a sender thread sends
    it at a known rate (tests/pump.py). Not sending until a test calls `start(rate)`."""
    require_kernel()
    from tests.pump import PacketPump

    pump = PacketPump()
    try:
        yield pump
    finally:
        pump.close()
