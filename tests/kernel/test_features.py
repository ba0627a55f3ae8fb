"""The feature probe (devagent.bpf.features) against the running kernel: each row's verdict
agrees with what the kernel then does when the agent uses that feature, whatever the kernel
build; and the errno texts tell a verifier's rejection and a policy's refusal from missing
privileges."""

from __future__ import annotations

import ctypes
import errno
import json
import os

import pytest

from devagent.bpf import _sys
from devagent.bpf.errors import (
    PRIVILEGE_HINT,
    REFUSED_ANYWAY,
    BPFError,
    PermissionDenied,
    VerifierRejected,
)
from devagent.bpf.features import STATUSES, UNAVAILABLE, WORKS, Feature, probe_features
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.objects import map_info, program_info
from devagent.bpf.progs import insn, load_program, return_imm
from tests.conftest import lacks, require_kernel, run_phydev

NAMES = (
    "bpf_syscall", "links", "run_stats", "enable_stats", "prog_info_fields", "batch_lookup",
    "program_iterator", "map_iterator", "vmlinux_btf", "object_btf", "link_details",
    "test_run", "task_fd_query", "jit", "kallsyms", "map_memory", "kprobes", "program_types",
    "bpffs",
)  # fmt: skip


@pytest.fixture(scope="module")
def table() -> dict[str, Feature]:
    require_kernel()
    return {f.name: f for f in probe_features()}


def test_cli_prints_every_row_as_text_and_json(kernel: None) -> None:
    rows = json.loads(run_phydev("inspect", "features", "--json").stdout)
    assert [r["name"] for r in rows][: len(NAMES)] == list(NAMES)
    assert {r["status"] for r in rows} <= set(STATUSES)
    assert all(r["detail"] and r["title"] for r in rows)
    assert len({r["name"] for r in rows}) == len(rows)
    assert {r["name"] for r in rows if r["name"].startswith("map_type:")} >= {
        "map_type:Hash", "map_type:PerCPUArray", "map_type:Arena",
    }  # fmt: skip
    text = run_phydev("inspect", "features").stdout.splitlines()
    assert text[0] == "Feature\tStatus\tSince\tDetail"
    by_name = {line.split("\t")[0]: line.split("\t") for line in text[1:]}
    for row in rows:
        assert by_name[row["name"]][1:] == [row["status"], row["since"] or "-", row["detail"]]


def test_batch_verdict_matches_a_batched_read(table: dict[str, Feature]) -> None:
    with create_map(1, 4, 8, 8, name="t_feat") as fd, MapHandle(fd, map_info(fd)) as handle:
        handle.update((1).to_bytes(4, "little"), (7).to_bytes(8, "little"))
        try:
            batches = list(handle._batch_counts())
        except BPFError as exc:
            assert table["batch_lookup"].status != WORKS, exc
            assert "key by key" in table["batch_lookup"].detail
        else:
            assert table["batch_lookup"].status == WORKS and batches == [1]
        assert handle.read_all().count == 1  # batched or not, the entry is read


def test_run_stats_verdict_matches_the_info_the_kernel_fills(table: dict[str, Feature]) -> None:
    with load_program(1, return_imm(0), name="t_feat") as fd:
        info = _sys.ProgInfo()
        attr = _sys.InfoByFdAttr(bpf_fd=fd.fd, info_len=ctypes.sizeof(info), info=_sys.addr(info))
        _sys.bpf(_sys.Cmd.OBJ_GET_INFO_BY_FD, attr)
        has_counters = attr.info_len >= _sys.ProgInfo.run_cnt.offset + 8
        assert (table["run_stats"].status != UNAVAILABLE) == has_counters
        full = attr.info_len >= ctypes.sizeof(info) - 4  # the last field is padding
        assert (table["prog_info_fields"].status == WORKS) == full
        assert program_info(fd).id == info.id


def test_enable_stats_verdict_matches_the_command(table: dict[str, Feature]) -> None:
    from devagent.bpf.stats import enable_stats

    try:
        enable_stats().close()
    except BPFError:
        assert table["enable_stats"].status != WORKS
        assert "kernel.bpf_stats_enabled=1" in table["enable_stats"].detail
    else:
        assert table["enable_stats"].status == WORKS


def test_iterator_verdicts_match_what_a_server_loads(table: dict[str, Feature]) -> None:
    """The rows say what a long-lived process gets: its own Walkers load the same iterators
    (or say why not, which the rows repeat)."""
    from devagent.bpf.iter.walkers import Walkers

    walkers = Walkers()
    walkers.start()
    try:
        for kind, row in (("programs", "program_iterator"), ("maps", "map_iterator")):
            loaded = getattr(walkers, kind) is not None
            assert (table[row].status == WORKS) == loaded, (row, walkers.problems)
            if not loaded:
                assert walkers.problems[kind].split(":")[0] in table[row].detail
        rows = {f.name: f for f in probe_features(iterator_problems=_problems(walkers))}
        assert rows["program_iterator"] == table["program_iterator"]
        assert rows["map_iterator"] == table["map_iterator"]
    finally:
        walkers.close()


def _problems(walkers: object) -> dict[str, str | None]:
    problems: dict[str, str] = walkers.problems  # type: ignore[attr-defined]
    return {kind: problems.get(kind) for kind in ("programs", "maps")}


def test_test_run_verdict_matches_a_run(table: dict[str, Feature]) -> None:
    from devagent.bpf.replay import replay

    with load_program(1, return_imm(3), name="t_feat") as fd:
        prog_id = program_info(fd).id
        try:
            result = replay(prog_id, b"\0" * 64)
        except BPFError as exc:
            assert table["test_run"].status == UNAVAILABLE, exc
        else:
            assert table["test_run"].status == WORKS and result.retval == 3


def test_bpffs_verdict_names_the_directory(kernel: None, tmp_path: object) -> None:
    rows = {f.name: f for f in probe_features(str(tmp_path))}
    assert rows["bpffs"].status == "degraded"
    assert f"{tmp_path} is not on a bpf filesystem" in rows["bpffs"].detail


def test_a_verifier_rejection_is_not_a_privilege_problem(kernel: None) -> None:
    """r0 = r2 with r2 never set: the verifier refuses (EACCES); the error shows its reason
    and says nothing of running as root."""
    code = insn(0xBF, dst=0, src=2) + insn(0x95)
    with pytest.raises(VerifierRejected) as caught:
        load_program(1, code, name="t_rejected")
    text = str(caught.value)
    assert "the verifier rejected the program" in text and "R2 !read_ok" in text
    assert "run as root" not in text and caught.value.errno in (errno.EACCES, errno.EINVAL)


def test_a_refusal_of_a_privileged_process_says_so(kernel: None) -> None:
    """EPERM while the process has CAP_BPF and CAP_SYS_ADMIN (a policy, a kernel build):
    the text must not send a root user looking for privileges."""
    text = str(PermissionDenied(errno.EPERM, "MAP_CREATE", "new map 'x'"))
    assert REFUSED_ANYWAY in text and PRIVILEGE_HINT not in text


def test_without_privileges_the_cli_says_run_as_root(kernel: None) -> None:
    done = run_phydev("inspect", "features", check=False, unprivileged="nocaps")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        "phydev: not allowed to read eBPF objects: user root (uid 0) lacks CAP_BPF and "
        "CAP_SYS_ADMIN (dropped from this process, e.g. a container without them): grant "
        "CAP_BPF + CAP_SYS_ADMIN (and CAP_PERFMON for run statistics)"
    )
    assert os.geteuid() == 0  # the test's own process keeps its privileges


def test_fields_an_older_kernel_lacks_read_as_none(kernel: None) -> None:
    """An older kernel's bpf_prog_info ends before recursion_misses (5.12), verified_insns
    (5.16) and attach_btf_* (5.19) and says so in the info_len it writes back: asking this
    kernel for exactly the 5.10 struct gives that answer, and those fields are None (shown
    as null, left out of /metrics), never a made-up 0; the older fields are read as ever."""
    from devagent.bpf.objects import _ProgramReader

    with load_program(1, return_imm(0), name="t_old_info") as fd:
        full = program_info(fd)
        reader = _ProgramReader()
        reader._get_attr.info_len = _sys.ProgInfo.recursion_misses.offset  # Linux 5.10's size
        old = reader.read(fd.fd)
    if not lacks("verified_insns"):
        assert full.verified_insns is not None and full.verified_insns > 0
    assert (old.recursion_misses, old.verified_insns) == (None, None)
    assert (old.attach_btf_obj_id, old.attach_btf_id) == (None, None)
    assert (old.id, old.tag, old.run_count, old.xlated_size) == (
        full.id, full.tag, full.run_count, full.xlated_size,
    )  # fmt: skip


def test_a_small_memlock_limit_does_not_stop_the_agent(kernel: None) -> None:
    """Kernels before 5.11 charge maps and programs to RLIMIT_MEMLOCK (64 KiB by default on
    many distributions): the agent lifts the limit, as bpftool does, instead of failing with
    EPERM. On later kernels nothing is charged and the limit stays as it was."""
    import subprocess
    import sys

    script = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))\n"
        "from devagent.bpf.maps import create_map\n"
        "from devagent.bpf.progs import load_program, return_imm\n"
        "maps = [create_map(2, 4, 4096, 256, name='t_memlock') for _ in range(4)]\n"
        "prog = load_program(1, return_imm(0), name='t_memlock')\n"
        "print(resource.getrlimit(resource.RLIMIT_MEMLOCK)[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) in (65536, -1)
