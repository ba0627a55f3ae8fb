"""Run every benchmark once and write docs/PERFORMANCE.md.

    sudo ./bench/run [--repeat N] [--quick] [--budget-only]

The Budget table comes first: each line of the performance budget (bench/budget.py) against
what this run measured; the run exits non-zero when one does not hold.

Each benchmark creates its own kernel objects (owned by this process, freed at exit), compares
against bpftool in the same run where a comparison exists, and reports medians and min–max.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.budget import record, table
from bench.fleet import bench_fleet
from bench.measure import (
    Summary,
    p50_p99,
    peak_rss_kib,
    time_calls,
    time_interleaved,
    time_processes,
)
from bench.objects import big_program, filled_hash, many_programs, raise_fd_limit
from bench.poll import bench_big, bench_small, distinct_selection, throughput
from bench.server import CACHE_AGE, ENTRIES, NAVIGATION, AgentProcess, Client
from bench.ui import bench_ui
from devagent.bpf.objects import map_info

ROOT = Path(__file__).resolve().parent.parent
PHYDEV = str(Path(sys.executable).parent / "phydev")
Row = tuple[str, str]


def machine() -> list[Row]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    bpftool = subprocess.run(["bpftool", "version"], capture_output=True, text=True).stdout
    return [
        ("kernel", platform.release()),
        ("CPU", f"{cpu} × {os.cpu_count()}"),
        ("memory", f"{mem_kib / 1048576:.1f} GiB"),
        ("Python", platform.python_version()),
        ("bpftool", bpftool.splitlines()[0] if bpftool else "?"),
    ]


def ratio(slow: Summary, fast: Summary) -> str:
    return f"{slow.median / fast.median:.2f}×"


def bench_dump(entries: int, per_cpu: bool, repeat: int) -> list[Row]:
    """Whole-map JSON dump as whole processes: phydev vs bpftool."""
    fd = filled_hash(entries, per_cpu=per_cpu)
    map_id = map_info(fd).id
    ours_t, ours_rss = time_processes(
        [PHYDEV, "inspect", "maps", "dump", str(map_id), "--json"], repeat
    )
    tool_t, tool_rss = time_processes(["bpftool", "-j", "map", "dump", "id", str(map_id)], repeat)
    ours_num, _ = time_processes(
        [PHYDEV, "inspect", "maps", "dump", str(map_id), "--json", "--format", "number"], repeat
    )
    fd.close()
    kind = "per-CPU hash" if per_cpu else "hash"
    return [
        (f"{kind}, {entries:,} entries: `phydev inspect maps dump --json` (hex)", ours_t.fmt()),
        (f"{kind}, {entries:,} entries: same with `--format number`", ours_num.fmt()),
        (f"{kind}, {entries:,} entries: `bpftool -j map dump`", tool_t.fmt()),
        (f"{kind}, {entries:,} entries: speed-up over bpftool (hex)", ratio(tool_t, ours_t)),
        (f"{kind}, {entries:,} entries: peak RSS phydev", ours_rss.fmt("MiB", 1 / 1024, 1)),
        (f"{kind}, {entries:,} entries: peak RSS bpftool", tool_rss.fmt("MiB", 1 / 1024, 1)),
    ]


def bench_cli_list(repeat: int) -> list[Row]:
    """`inspect progs list` with the programs loaded, against bpftool and bare Python, the
    commands taking turns (15 rounds at least: single runs vary by ±30 % here)."""
    commands = [
        [PHYDEV, "inspect", "progs", "list"],
        [str(ROOT / "phydev"), "inspect", "progs", "list"],
        ["bpftool", "prog", "show"],
        [sys.executable, "-c", "pass"],
        [sys.executable, "-c", "import devagent.cli"],
    ]
    ours, launcher, tool, floor, imports = time_interleaved(commands, max(15, 3 * repeat))
    record("cli_ratio", max(ours.median, launcher.median) / tool.median)
    ours_rss, tool_rss, floor_rss = (
        Summary.of([float(peak_rss_kib(argv)) for _ in range(3)])
        for argv in (commands[0], commands[2], commands[3])
    )
    return [
        ("`phydev inspect progs list` (pip's console script)", ours.fmt()),
        ("`./phydev inspect progs list` (through the launcher)", launcher.fmt()),
        ("`bpftool prog show`", tool.fmt()),
        ("`python3 -c pass` (interpreter floor)", floor.fmt()),
        ("`python3 -c 'import devagent.cli'`", imports.fmt()),
        ("phydev / bpftool", ratio(ours, tool)),
        ("./phydev / bpftool", ratio(launcher, tool)),
        ("peak RSS `phydev inspect progs list`", ours_rss.fmt("MiB", 1 / 1024, 1)),
        ("peak RSS `bpftool prog show`", tool_rss.fmt("MiB", 1 / 1024, 1)),
        ("peak RSS `python3 -c pass`", floor_rss.fmt("MiB", 1 / 1024, 1)),
    ]


def bench_insns(repeat: int) -> list[Row]:
    """Instruction dumps of a program of several thousand instructions: phydev vs bpftool
    (whole processes), and the decoding alone in-process (p50/p99)."""
    from devagent.bpf.kallsyms import KernelSymbols
    from devagent.bpf.objects import program_info
    from devagent.bpf.prog_code import get_program_code
    from devagent.bpf.xlated import disassemble

    fd = big_program()
    info = program_info(fd)
    pid = str(info.id)
    n = f"{info.xlated_size // 8:,} instructions"
    ours, ours_rss = time_processes([PHYDEV, "inspect", "progs", "dump", pid], repeat)
    tool, tool_rss = time_processes(["bpftool", "prog", "dump", "xlated", "id", pid], repeat)
    ours_j, _ = time_processes([PHYDEV, "inspect", "progs", "dump", pid, "--json"], repeat)
    tool_j, _ = time_processes(["bpftool", "-j", "prog", "dump", "xlated", "id", pid], repeat)
    jited, jited_rss = time_processes([PHYDEV, "inspect", "progs", "dump", pid, "jited"], repeat)
    kallsyms = time_calls(KernelSymbols, repeat)
    code = get_program_code(info.id)
    symbols = KernelSymbols()
    p50, p99 = latencies(lambda: disassemble(code, symbols), 100)
    fd.close()
    return [
        (f"`phydev inspect progs dump` ({n}, text)", ours.fmt()),
        ("`bpftool prog dump xlated`", tool.fmt()),
        ("phydev / bpftool (text)", ratio(ours, tool)),
        ("`phydev inspect progs dump --json`", ours_j.fmt()),
        ("`bpftool -j prog dump xlated`", tool_j.fmt()),
        ("phydev / bpftool (JSON)", ratio(ours_j, tool_j)),
        (
            f"`phydev inspect progs dump jited` ({info.jited_size:,} bytes; bpftool: no libbfd)",
            jited.fmt(),
        ),
        (
            "decoding alone, in-process (kallsyms already read), 100 runs: p50",
            f"{p50 * 1e3:.1f} ms",
        ),
        (
            "decoding alone, in-process (kallsyms already read), 100 runs: p99",
            f"{p99 * 1e3:.1f} ms",
        ),
        ("reading /proc/kallsyms once (both tools do, to name calls)", kallsyms.fmt("ms", 1e3, 1)),
        (
            "peak RSS phydev text / jited",
            f"{ours_rss.fmt('MiB', 1 / 1024, 1)} / {jited_rss.fmt('MiB', 1 / 1024, 1)}",
        ),
        ("peak RSS bpftool", tool_rss.fmt("MiB", 1 / 1024, 1)),
    ]


def latencies(func: Callable[[], object], count: int) -> tuple[float, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return p50_p99(samples)


def cold(func: Callable[[], object], count: int) -> Summary:
    """Wall time of calls that each miss the agent's 1 s cache (it sleeps in between)."""
    samples = []
    for _ in range(count):
        time.sleep(CACHE_AGE)
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return Summary.of(samples)


def bench_server(big_entries: int, metric_entries: int, requests: int, programs: int) -> list[Row]:
    """GraphQL and /metrics against a real server, with `programs` programs + maps loaded."""
    loaded = f"{programs} programs + {programs} maps"
    rows: list[Row] = []
    big = filled_hash(big_entries, name="bench_big")
    big_id = map_info(big).id
    exported = filled_hash(metric_entries, name="bench_etm")
    etm_id = map_info(exported).id
    agent = AgentProcess("--etm", f"{etm_id}-{etm_id}::number", "--etm-max-entries", "200000")
    try:
        client = Client(agent.port)
        time.sleep(1.0)
        rows.append(("server RSS, idle after start", f"{agent.rss_kib() / 1024:.1f} MiB"))
        cpu0 = agent.cpu_seconds()
        time.sleep(10)
        idle_cpu = (agent.cpu_seconds() - cpu0) / 10
        rows.append(("server CPU while idle (10 s)", f"{idle_cpu * 100:.2f} % of one core"))

        nav_cold = cold(lambda: client.query(NAVIGATION), 10)
        rows.append((f"Navigation query ({loaded}), cold: kernel walk included",
                     nav_cold.fmt("ms", 1e3, 1)))  # fmt: skip
        p50, p99 = latencies(lambda: client.query(NAVIGATION), requests)
        rows.append((f"Navigation query, {requests} in a row (response cache, 1 s snapshots): p50",
                     f"{p50 * 1e3:.1f} ms"))  # fmt: skip
        rows.append((f"Navigation query, {requests} in a row (response cache, 1 s snapshots): p99",
                     f"{p99 * 1e3:.1f} ms"))  # fmt: skip
        distinct = iter(range(10**9))
        # A distinct alias each time: an answer no cache holds (a comment no longer is one,
        # the response cache keys by the printed document).
        p50, p99 = latencies(lambda: client.query(distinct_selection(next(distinct))), requests)
        rows.append((f"Navigation query executed every time (distinct selection), {requests}: p50",
                     f"{p50 * 1e3:.1f} ms"))  # fmt: skip
        rows.append((f"Navigation query executed every time (distinct selection), {requests}: p99",
                     f"{p99 * 1e3:.1f} ms"))  # fmt: skip
        qps = throughput(agent.port, lambda _: NAVIGATION, 8, 10.0)
        rows.append(("Navigation query, 8 concurrent clients (response cache)",
                     f"{qps:.1f} requests/s"))  # fmt: skip
        qps = throughput(agent.port, distinct_selection, 8, 10.0)
        rows.append(("Navigation query, 8 concurrent clients, executed every time",
                     f"{qps:.1f} requests/s"))  # fmt: skip

        def page(offset: int) -> dict[str, Any]:
            variables = {"mapId": big_id, "offset": offset, "limit": 100,
                         "keyFormat": "HEX", "valueFormat": "HEX"}  # fmt: skip
            return client.query(ENTRIES, variables)

        time.sleep(1.1)  # let any cached read of the big map expire: the first page reads it
        start = time.perf_counter()
        first = page(0)
        first_s = time.perf_counter() - start
        assert first["map"]["entriesCount"] == big_entries
        later = time_calls(lambda: page(500_000 % big_entries), 20)
        rows.append(
            (f"entries page 1 (limit 100) of a {big_entries:,}-entry map", f"{first_s:.3f} s")
        )
        rows.append(("a later entries page (limit 100), map read cached", later.fmt("ms", 1e3, 2)))
        rows.append(("server RSS after serving the big map", f"{agent.rss_kib() / 1024:.1f} MiB"))

        scrape = cold(lambda: client.get("/metrics"), 5)
        assert b'name="bench_etm"' in client.get("/metrics")
        rows.append((f"/metrics with --etm covering a {metric_entries:,}-entry map, cold",
                     scrape.fmt()))  # fmt: skip
        rows.append(("server RSS after those scrapes", f"{agent.rss_kib() / 1024:.1f} MiB"))
        time.sleep(32)  # past the pager's 30 s: every read and body can be let go of
        rows.append(("server RSS 32 s later, idle (reads and bodies released)",
                     f"{agent.rss_kib() / 1024:.1f} MiB"))  # fmt: skip
    finally:
        agent.stop()
    exported.close()
    agent = AgentProcess()
    try:
        client = Client(agent.port)
        idle = cold(lambda: client.get("/metrics"), 10)
        rows.append((f"/metrics, no --etm, {loaded}, cold", idle.fmt("ms", 1e3, 1)))
    finally:
        agent.stop()
    big.close()
    return rows


def cpu_ms(func: Callable[[], object], count: int) -> tuple[float, float]:
    """(p50, p99) CPU milliseconds of this thread per call (time.thread_time: the CPU the
    call costs, not the wall time the noisy machine gives it)."""
    samples = []
    for _ in range(count):
        start = time.thread_time()
        func()
        samples.append((time.thread_time() - start) * 1e3)
    return p50_p99(samples)


def bench_live(programs: int, repeat: int) -> list[Row]:
    """The live view's refresh (issue 11's target: walk + rates <= 20 ms CPU with 1000
    programs), in process, and a server's CPU while a client watches rates and after."""
    from devagent.bpf.iter.walkers import CounterSource, walkers
    from devagent.bpf.run_counters import CounterReader
    from devagent.cli.top.local import LocalSource
    from devagent.model.history import History

    walkers.start()  # as `top` and the server do
    rows: list[Row] = []
    for how, reader in (("one pass of the agent's iterator", CounterSource()),
                        ("bpf() walk, --no-program-iterator", CounterReader())):  # fmt: skip
        history = History()

        def walk_and_rates() -> None:
            history.add(reader.read())  # noqa: B023 (called within this iteration)
            history.latest_rates()  # noqa: B023

        p50, p99 = cpu_ms(walk_and_rates, 200)
        rows.append((f"top refresh, walk + rates ({programs} programs, {how}): CPU p50 / p99",
                     f"{p50:.1f} / {p99:.1f} ms"))  # fmt: skip
    source = LocalSource(interval=1.0, enable_stats=False)
    source.refresh()
    p50, p99 = cpu_ms(source.refresh, 100)
    rows.append(("top refresh, everything a frame shows (rows from the 5 s context): "
                 "CPU p50 / p99", f"{p50:.1f} / {p99:.1f} ms"))  # fmt: skip
    renew = cpu_ms(lambda: (source.inventory.invalidate(), source.refresh()), 10)
    rows.append(("top refresh with the context renewed (full walk, owners, attach points; "
                 "every 5 s): CPU p50", f"{renew[0]:.1f} ms"))  # fmt: skip
    source.close()
    tool, _ = time_processes(["bpftool", "-j", "prog", "show"], repeat)
    rows.append(("`bpftool -j prog show` (whole process, wall; for scale)", tool.fmt("ms", 1e3, 1)))

    agent = AgentProcess()
    try:
        client = Client(agent.port)
        client.query("{ programs { id } }")
        time.sleep(1.0)
        cpu0 = agent.cpu_seconds()
        time.sleep(10)
        before = (agent.cpu_seconds() - cpu0) / 10
        rows.append(("server CPU, nobody watching yet (10 s)", f"{before * 100:.2f} % of one core"))
        query = "{ host { cpuPercent } programs { id eventsPerSecond cpuPercent avgRunTimeNs } }"
        client.query(query)
        cpu0, start = agent.cpu_seconds(), time.monotonic()
        for _ in range(10):
            time.sleep(1.0)
            client.query(query)
        watched = (agent.cpu_seconds() - cpu0) / (time.monotonic() - start)
        rows.append(("server CPU, one client asking for every program's rates each second "
                     "(10 s)", f"{watched * 100:.2f} % of one core"))  # fmt: skip
        time.sleep(62)  # past the 60 s watch window: sampling stops
        cpu0 = agent.cpu_seconds()
        time.sleep(10)
        after = (agent.cpu_seconds() - cpu0) / 10
        rows.append(("server CPU, 60 s after the client stopped (10 s)",
                     f"{after * 100:.2f} % of one core"))  # fmt: skip
        client.close()
    finally:
        agent.stop()
    return rows


def write_report(sections: dict[str, list[Row]], args: argparse.Namespace) -> str:
    lines = [
        "# Performance",
        "",
        "Generated by `sudo ./bench/run` (do not edit by hand; rerun it). Medians with "
        f"min–max over {args.repeat} runs unless stated; every comparison was taken in the "
        "same run on the same machine. Whole-process timings include interpreter start.",
        "",
        f"Run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    for title, rows in sections.items():
        lines += [f"## {title}", "", "| what | result |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        lines.append("")
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def readme_budget(budget: list[Row], machine: list[Row]) -> None:
    """The README's Performance table: the budget lines as this run measured them, so the
    figures there are always docs/PERFORMANCE.md's."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- budget: start -->", "<!-- budget: end -->"
    if start not in text or end not in text:
        return
    cpu = dict(machine).get("CPU", "?")
    when = time.strftime("%Y-%m-%d", time.gmtime())
    rows = ["| budget line | measured |", "|---|---|", *(f"| {k} | {v} |" for k, v in budget)]
    body = "\n".join([*rows, "", f"(On {cpu}, {when}.)"])
    head, rest = text.split(start, 1)
    readme.write_text(f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}")


def budget_only(args: argparse.Namespace) -> dict[str, list[Row]]:
    """Just the benchmarks the budget's lines read (~5 minutes): for checking a change."""
    sections: dict[str, list[Row]] = {"Machine": machine()}
    polls = 20
    ui_polls = bench_small(polls)
    fds = many_programs(1000)
    sections["UI polls"] = ui_polls + bench_big(1000, polls)
    sections["CLI listing with 1000 programs loaded"] = bench_cli_list(args.repeat)
    for fd in fds:
        fd.close()
    print("fleet: 500 simulated nodes through Prometheus ...", file=sys.stderr)
    sections["Fleet"] = bench_fleet(500)
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per whole-process timing")
    parser.add_argument("--quick", action="store_true", help="smaller objects, for a smoke run")
    parser.add_argument(
        "--budget-only",
        action="store_true",
        help="run only what the budget reads and print it (docs/PERFORMANCE.md is left alone)",
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "PERFORMANCE.md"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/run: needs root (it creates eBPF maps and programs)")
    raise_fd_limit()
    if args.budget_only:
        sections = budget_only(args)
        rows, ok = table()
        print(write_report({"Budget": rows, **sections}, args))
        sys.exit(0 if ok else 1)
    sections = all_benchmarks(args)
    rows, ok = table()
    sections = {"Machine": sections.pop("Machine"), "Budget": rows, **sections}
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps(sections, indent=1))
    report = write_report(sections, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report + "\n")
    if out.resolve() == (ROOT / "docs" / "PERFORMANCE.md").resolve():
        readme_budget(sections["Budget"], sections["Machine"])
    print(report)
    if not ok:
        sys.exit("bench/run: a budget line does not hold (see the Budget table)")


def all_benchmarks(args: argparse.Namespace) -> dict[str, list[Row]]:
    scale = 10 if args.quick else 1
    sections: dict[str, list[Row]] = {"Machine": machine()}
    print("dump benchmarks ...", file=sys.stderr)
    sections["Whole-map dump as JSON (target: ≥ 3× faster than bpftool)"] = bench_dump(
        1_000_000 // scale, False, args.repeat
    ) + bench_dump(100_000 // scale, True, args.repeat)
    print("instruction dump benchmarks ...", file=sys.stderr)
    sections["Program instruction dumps"] = bench_insns(args.repeat)
    polls = 20 // (2 if args.quick else 1)
    print("UI polls with few objects ...", file=sys.stderr)
    ui_polls = bench_small(polls)
    print("loading programs and maps ...", file=sys.stderr)
    programs = 1000 // scale
    fds = many_programs(programs)
    print("UI polls with many objects ...", file=sys.stderr)
    sections["UI polls on a fresh snapshot, and server memory (the case the explorer meets)"] = (
        ui_polls + bench_big(programs, polls)
    )
    sections[f"CLI listing with {programs} programs loaded"] = bench_cli_list(args.repeat)
    print("live view benchmarks ...", file=sys.stderr)
    sections[f"Live view: `phydev top` and rates ({programs} programs loaded)"] = bench_live(
        programs, args.repeat
    )
    print("server benchmarks ...", file=sys.stderr)
    sections[f"Server ({programs} programs + {programs} maps loaded)"] = bench_server(
        1_000_000 // scale, 100_000 // scale, 200, programs
    )
    print("web UI benchmarks ...", file=sys.stderr)
    sections[
        f"Web UI first render in headless Chromium ({programs} programs + {programs} maps "
        "loaded; target: < 1 s)"
    ] = bench_ui(programs, args.repeat)
    for fd in fds:
        fd.close()
    nodes = 500 // scale
    print(f"fleet: {nodes} simulated nodes through Prometheus ...", file=sys.stderr)
    sections["Fleet"] = bench_fleet(nodes)
    return sections


if __name__ == "__main__":
    main()
