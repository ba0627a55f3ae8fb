"""Mutations: map writes and pinning, validated in full before anything is written.

Failures are answered in the result's `error` field (CONTRACT.md), never as GraphQL errors, and
name what is wrong: which key, which size, which CPU. Writes are refused unless the server was
started with --allow-writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ariadne import MutationType

from ..bpf._sys import BPF_EXIST, BPF_NOEXIST
from ..bpf.errors import AlreadyExists, BPFError, NotFound, not_found
from ..bpf.map_types import is_lookup_supported
from ..bpf.maps import MapHandle
from ..bpf.names import MAP_TYPE_IDS
from ..bpf.pins import pin_object
from ..model.btf_encode import BtfEncodeError, encode_json
from ..model.btf_entries import load_map_btf
from ..model.codec import CodecError, Format, format_bytes, parse_text
from .context import RequestContext, request_context

WRITES_DISABLED = (
    "writes are disabled: start phydev server with --allow-writes to enable map updates, "
    "deletes and pinning"
)
# Array-like maps have a value at every index; the kernel cannot delete their entries.
_NO_DELETE_TYPES = frozenset(
    MAP_TYPE_IDS[n] for n in ("Array", "PerCPUArray", "ProgramArray", "ArrayOfMaps")
)

mutation = MutationType()


class Refused(Exception):
    """The request is invalid; the message goes to the `error` field."""


def _result(ctx: RequestContext, action: Callable[[], None]) -> dict[str, Any]:
    if not ctx.settings.allow_writes:
        return {"error": WRITES_DISABLED}
    try:
        action()
    except Refused as exc:
        return {"error": str(exc)}
    except BPFError as exc:
        return {"error": str(exc)}
    return {"error": None}


def _open(map_id: int) -> MapHandle:
    try:
        handle = MapHandle.open(map_id)
    except NotFound:
        raise Refused(str(not_found("map", map_id))) from None
    if not is_lookup_supported(handle.info.type):
        handle.close()
        raise Refused(f"map {map_id}: {handle.info.type_name} maps have no entries to edit")
    return handle


def _fmt(name: str) -> Format | str:
    """A codec format, or "BTF" (JSON encoded through the map's BTF type, model.btf_encode:
    on the server, so the UI needs no copy of the type layout and ranges are checked)."""
    return name if name == "BTF" else Format(name)


def _parse(
    text: str, fmt: Format | str, size: int, what: str, *, handle: MapHandle | None = None,
    part: str = "value", base: bytes | None = None,
) -> bytes:  # fmt: skip
    try:
        if isinstance(fmt, Format):
            return parse_text(text, fmt, size)
    except CodecError as exc:
        raise Refused(f"{what}: {exc}") from None
    assert handle is not None  # noqa: S101 every BTF caller passes its map
    return _parse_btf(handle, part, text, what, base)


def _parse_btf(handle: MapHandle, part: str, text: str, what: str, base: bytes | None) -> bytes:
    info = handle.info
    type_id = info.btf_key_type_id if part == "key" else info.btf_value_type_id
    btf = load_map_btf(info) if type_id else None
    if btf is None:
        raise Refused(f"{what}: map {info.id} has no BTF type for its {part}s: use HEX, "
                      "STRING or NUMBER")  # fmt: skip
    try:
        return encode_json(btf, type_id, text, base)
    except BtfEncodeError as exc:
        raise Refused(f"{what}: {exc}") from None


def _key(handle: MapHandle, text: str, fmt: Format | str) -> bytes:
    return _parse(text, fmt, handle.info.key_size, f"key {text!r}", handle=handle, part="key")


def _current(handle: MapHandle, key: bytes, cpu: int | None) -> bytes | None:
    """The value a BTF update writes its fields over: the entry's (that CPU's) bytes now;
    None (zeros) when there is no such entry or CPU, which the update then reports."""
    current = handle.lookup(key)
    if current is None:
        return None
    if not handle.per_cpu:
        return current
    if cpu is None or not 0 <= cpu < handle.ncpus:
        return None
    slot = handle.slot_size
    return current[cpu * slot : cpu * slot + handle.info.value_size]


def _changed(ctx: RequestContext, map_id: int) -> None:
    ctx.inventory.invalidate_map(map_id)
    ctx.pager.forget(map_id)


@mutation.field("updateMapValue")
def resolve_update(_: None, info: Any, **args: Any) -> dict[str, Any]:
    ctx = request_context(info)

    def action() -> None:
        with _open(args["mapId"]) as handle:
            key = _key(handle, args["key"], _fmt(args["keyFormat"]))
            vfmt = _fmt(args["valueFormat"])
            cpu = args.get("cpu")
            value = _parse(args["value"], vfmt, handle.info.value_size,
                           f"value {args['value']!r}", handle=handle,
                           base=_current(handle, key, cpu) if vfmt == "BTF" else None)  # fmt: skip
            key_text = format_bytes(key, Format.HEX)
            if handle.per_cpu:
                if cpu is None:
                    raise Refused(
                        f"map {handle.info.id} is per-CPU: give the cpu to update "
                        f"(0 to {handle.ncpus - 1})"
                    )
                if not 0 <= cpu < handle.ncpus:
                    raise Refused(f"cpu {cpu} is out of range: this host has CPUs 0 to "
                                  f"{handle.ncpus - 1}")  # fmt: skip
                current = handle.lookup(key)
                if current is None:
                    raise Refused(f"key {key_text} (hex) is not in map {handle.info.id}: use "
                                  "createMapValue to add it")  # fmt: skip
                # Read-modify-write of one CPU's slot: not atomic against the kernel program
                # updating the other slots meanwhile (the bpf() API has no per-CPU write).
                slot = handle.slot_size
                new = bytearray(current)
                new[cpu * slot : cpu * slot + slot] = value.ljust(slot, b"\0")
                handle.update(key, bytes(new), BPF_EXIST)
            else:
                if cpu is not None:
                    raise Refused(f"cpu applies only to per-CPU maps; map {handle.info.id} is "
                                  f"{handle.info.type_name}")  # fmt: skip
                try:
                    handle.update(key, value, BPF_EXIST)
                except NotFound:
                    raise Refused(f"key {key_text} (hex) is not in map {handle.info.id}: use "
                                  "createMapValue to add it") from None  # fmt: skip
        _changed(ctx, args["mapId"])

    return _result(ctx, action)


@mutation.field("createMapValue")
def resolve_create(_: None, info: Any, **args: Any) -> dict[str, Any]:
    ctx = request_context(info)

    def action() -> None:
        with _open(args["mapId"]) as handle:
            key = _key(handle, args["key"], _fmt(args["keyFormat"]))
            vfmt = _fmt(args["valueFormat"])
            texts: list[str] = args["values"]
            want = handle.ncpus if handle.per_cpu else 1
            if len(texts) != want:
                kind = f"per-CPU map with {want} possible CPUs" if handle.per_cpu else "plain map"
                raise Refused(f"map {handle.info.id} is a {kind}: give exactly {want} "
                              f"value{'s' if want > 1 else ''}, got {len(texts)}")  # fmt: skip
            size = handle.info.value_size
            values = [_parse(t, vfmt, size, f"value {i} {t!r}", handle=handle)
                      for i, t in enumerate(texts)]  # fmt: skip
            raw = b"".join(v.ljust(handle.slot_size, b"\0") for v in values)
            try:
                handle.update(key, raw, BPF_NOEXIST)
            except AlreadyExists:
                raise Refused(
                    f"key {format_bytes(key, Format.HEX)} (hex) already exists in map "
                    f"{handle.info.id}: use updateMapValue to change it"
                ) from None
        _changed(ctx, args["mapId"])

    return _result(ctx, action)


@mutation.field("deleteMapValues")
def resolve_delete(_: None, info: Any, **args: Any) -> dict[str, Any]:
    ctx = request_context(info)

    def action() -> None:
        with _open(args["mapId"]) as handle:
            if handle.info.type in _NO_DELETE_TYPES:
                raise Refused(f"map {handle.info.id}: entries of {handle.info.type_name} maps "
                              "cannot be deleted")  # fmt: skip
            kfmt = _fmt(args["keyFormat"])
            keys = [_key(handle, text, kfmt) for text in args["keys"]]
            # A key given twice (maybe as two texts, "1" and "01") would be deleted by the
            # first and reported missing by the second, after the change: refused first.
            given: dict[bytes, str] = {}
            for text, key in zip(args["keys"], keys, strict=True):
                if key in given:
                    same = "" if given[key] == text else f" (as {given[key]!r} too)"
                    raise Refused(f"key {text!r} is given twice{same}; nothing was deleted")
                given[key] = text
            # Every key must exist before any is deleted: all or nothing.
            for text, key in zip(args["keys"], keys, strict=True):
                if handle.lookup(key) is None:
                    raise Refused(f"key {text!r} is not in map {handle.info.id}; nothing "
                                  "was deleted")  # fmt: skip
            for key in keys:
                handle.delete(key)
        _changed(ctx, args["mapId"])

    return _result(ctx, action)


def confined_pin_path(bpf_dir: str, path: str) -> str:
    """The pin path for `path`, absolute inside bpf_dir; refused if it is relative (the Go
    agent refused it, and whether it meant bpf_dir or the server's working directory is a
    guess), leaves bpf_dir, uses `..`, lacks a parent directory or already exists."""
    if not path or "\0" in path:
        raise Refused("pin path is empty or contains a NUL byte")
    if ".." in path.split("/"):
        raise Refused(f"pin path {path!r} must not contain '..'")
    if not os.path.isabs(path):
        like = os.path.join(bpf_dir, path)
        raise Refused(
            f"pin path {path!r} is relative: give an absolute path inside the bpffs "
            f"directory {bpf_dir}, such as {like!r}; nothing was pinned"
        )
    root = os.path.realpath(bpf_dir)
    full = os.path.normpath(path)
    parent = os.path.realpath(os.path.dirname(full))
    if parent != root and not parent.startswith(root + os.sep):
        raise Refused(f"pin path {path!r} is outside the bpffs directory {bpf_dir}")
    target = os.path.join(parent, os.path.basename(full))
    if target == root:
        raise Refused(f"pin path {path!r} names the bpffs directory itself")
    if not os.path.isdir(parent):
        raise Refused(f"directory {os.path.dirname(full)} does not exist")
    if os.path.lexists(target):
        raise Refused(f"{target} already exists: pins are never overwritten")
    return target


@mutation.field("pinMap")
def resolve_pin_map(_: None, info: Any, id: int, path: str) -> dict[str, Any]:
    ctx = request_context(info)

    def action() -> None:
        target = confined_pin_path(ctx.settings.bpf_dir, path)
        try:
            handle = MapHandle.open(id)
        except NotFound:
            raise Refused(str(not_found("map", id))) from None
        with handle:
            pin_object(handle.fd, target)
        ctx.inventory.invalidate()

    return _result(ctx, action)


RUNS_DISABLED = (
    "writes are disabled: start phydev server with --allow-writes to run programs (a test run "
    "can change the program's maps)"
)


def _ran(ctx: RequestContext, prog_id: int) -> None:
    """A run moves run counts and may write to the program's maps: forget what was read."""
    from ..bpf.objects import get_program

    ctx.inventory.invalidate()
    try:
        map_ids = get_program(prog_id).map_ids
    except BPFError:
        return
    for map_id in map_ids:
        ctx.pager.forget(map_id)


@mutation.field("testRun")
def resolve_test_run(
    _: None, info: Any, programId: int, dataIn: str, repeat: int | None = None
) -> dict[str, Any]:
    """BPF_PROG_TEST_RUN of a program on hex `dataIn`, `repeat` times (default 1), bounded by
    the query timeout (api.test_run)."""
    from .test_run import run_test

    ctx = request_context(info)
    if not ctx.settings.allow_writes:
        return {"error": RUNS_DISABLED}
    try:
        data = bytes.fromhex(dataIn)
    except ValueError:
        return {"error": f"dataIn must be hex (an even number of 0-9a-f digits): {dataIn[:40]!r}"}
    try:
        return run_test(ctx, programId, data, 1 if repeat is None else repeat)
    finally:
        _ran(ctx, programId)
