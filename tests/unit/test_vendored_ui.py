"""The vendored front-end files are exactly what scripts/vendor-ui recorded: nothing edited by
hand, nothing unlisted, every package with its licence text."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "src" / "devagent" / "web" / "static" / "vendor"


def _manifest() -> list[dict[str, object]]:
    data = json.loads((VENDOR / "vendor.json").read_text())
    assert isinstance(data, list)
    return data


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    for package in _manifest():
        for record in package["files"]:  # type: ignore[attr-defined]
            data = (VENDOR / record["file"]).read_bytes()
            assert len(data) == record["bytes"], record["file"]
            assert hashlib.sha256(data).hexdigest() == record["sha256"], record["file"]


def test_no_unlisted_file_and_a_licence_per_package() -> None:
    listed = {f["file"] for p in _manifest() for f in p["files"]}  # type: ignore[attr-defined]
    on_disk = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name not in ("vendor.json", "VENDOR.md")
    }
    assert on_disk == listed
    for package in _manifest():
        assert f"{package['name']}/LICENSE.txt" in listed
        assert package["version"] and package["license"] and package["integrity"]
