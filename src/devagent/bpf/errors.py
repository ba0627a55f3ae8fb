"""The kernel's errno, wrapped once: every other module handles these named exceptions."""

from __future__ import annotations

import errno as _errno
import os

PRIVILEGE_HINT = "run as root, or with CAP_BPF + CAP_SYS_ADMIN (and CAP_PERFMON for run statistics)"
# Said instead when the process has those capabilities: the refusal has another cause.
REFUSED_ANYWAY = (
    "this process has CAP_BPF and CAP_SYS_ADMIN, so the kernel refused for another reason "
    "(a security module, kernel lockdown or this kernel's build)"
)
CAP_SYS_ADMIN, CAP_BPF = 21, 39


def missing_bpf_capabilities(status_path: str = "/proc/self/status") -> list[str] | None:
    """The capabilities every bpf() command needs that this process lacks (CAP_BPF on
    kernels that have it, 5.8+, and CAP_SYS_ADMIN), by name; None when /proc cannot say.
    Read from /proc, so that an EPERM is explained by what is really missing."""
    try:
        with open(status_path) as f:
            effective = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
    except (OSError, ValueError, StopIteration, IndexError):
        return None
    needed = ([("CAP_BPF", CAP_BPF)] if last_cap >= CAP_BPF else []) + [
        ("CAP_SYS_ADMIN", CAP_SYS_ADMIN)
    ]
    return [name for name, cap in needed if not effective >> cap & 1]


def has_bpf_privileges(status_path: str = "/proc/self/status") -> bool:
    """Whether this process has the capabilities every bpf() command needs (see
    missing_bpf_capabilities)."""
    return missing_bpf_capabilities(status_path) == []


def privilege_problem(status_path: str = "/proc/self/status") -> str:
    """The one line for a process the kernel refuses: which user it runs as and which
    capabilities it lacks, then what to do (PRIVILEGE_HINT)."""
    import pwd

    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    missing = missing_bpf_capabilities(status_path)
    lacks = " and ".join(missing) if missing else "the capabilities bpf() needs"
    if uid == 0:  # root whose capabilities were taken: running as root is no answer
        return (
            f"user {user} (uid 0) lacks {lacks} (dropped from this process, e.g. a container "
            "without them): grant CAP_BPF + CAP_SYS_ADMIN (and CAP_PERFMON for run statistics)"
        )
    return f"user {user} (uid {uid}) lacks {lacks}: {PRIVILEGE_HINT}"


class BPFError(OSError):
    """A bpf() command failed. `op` is the command, `what` names the object it was about."""

    def __init__(self, err: int, op: str = "", what: str = "", detail: str = "") -> None:
        self.op = op
        self.what = what
        self.detail = detail
        super().__init__(err, self._message(err))

    def _message(self, err: int) -> str:
        parts = []
        if self.what:
            parts.append(self.what)
        if self.op:
            parts.append(self.op)
        reason = self.detail or os.strerror(err)
        head = ": ".join(parts)
        return f"{head}: {reason}" if head else reason

    def __str__(self) -> str:
        return str(self.strerror)

    @staticmethod
    def from_errno(err: int, op: str = "", what: str = "") -> BPFError:
        """The most specific BPFError subclass for this errno."""
        cls = _BY_ERRNO.get(err, BPFError)
        return cls(err, op, what)


class NotFound(BPFError):
    """The object (or the key) does not exist, or vanished meanwhile (ENOENT).

    An object that is not there reads the same whoever looked and how: "program 12 not
    found", "map 12 not found", "link 12 not found" (CLI, GraphQL, mutations, test runs),
    without the bpf() command that found out; a missing key says "no such key"."""

    def __init__(self, err: int, op: str = "", what: str = "", detail: str = "") -> None:
        if not detail:
            detail = "no such key" if op.endswith("_ELEM") else NOT_FOUND
        super().__init__(err, op, what, detail)

    def _message(self, err: int) -> str:
        if self.detail == NOT_FOUND and self.what:
            return f"{self.what} {NOT_FOUND}"
        return super()._message(err)


NOT_FOUND = "not found"


def not_found(kind: str, obj_id: int) -> NotFound:
    """The one error for an id that names no object: `not_found("map", 12)` says
    "map 12 not found". `kind` is program, map, link or BTF."""
    return NotFound(_errno.ENOENT, "", f"{kind} {obj_id}", NOT_FOUND)


class PermissionDenied(BPFError):
    """EPERM / EACCES: missing privileges, or, for a process that has them, a refusal with
    another cause (the message says which)."""

    def _message(self, err: int) -> str:
        hint = REFUSED_ANYWAY if has_bpf_privileges() else PRIVILEGE_HINT
        return f"{super()._message(err)} ({hint})"


class VerifierRejected(BPFError):
    """BPF_PROG_LOAD refused the program and the verifier said why: `detail` holds the last
    lines of its log (the errno, EACCES or EINVAL, is the verifier's, not a privilege)."""


class NotSupported(BPFError):
    """The kernel or the map type does not support this operation."""


class AlreadyExists(BPFError):
    """The key or the pin already exists (EEXIST)."""


class InvalidArgument(BPFError):
    """The kernel rejected the arguments (EINVAL, E2BIG, ...)."""


_BY_ERRNO: dict[int, type[BPFError]] = {
    _errno.ENOENT: NotFound,
    _errno.ESRCH: NotFound,
    _errno.EPERM: PermissionDenied,
    _errno.EACCES: PermissionDenied,
    _errno.ENOTSUP: NotSupported,
    _errno.EOPNOTSUPP: NotSupported,
    524: NotSupported,  # ENOTSUPP, kernel-internal but leaks to user space
    _errno.EEXIST: AlreadyExists,
    _errno.EINVAL: InvalidArgument,
    _errno.E2BIG: InvalidArgument,
}
