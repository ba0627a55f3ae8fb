"""The README and docs/ are a manual: every relative link between them points at a file that
exists and, with `#anchor`, at a heading of that file (GitHub's anchor rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out, fence = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^#{1,6} (.*)", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def links(page: Path) -> list[str]:
    text, fence, out = page.read_text(), False, []
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            out += LINK.findall(line)
    return [link for link in out if not re.match(r"^[a-z]+:", link)]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for link in links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no {path.relative_to(ROOT)}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no heading #{anchor} in {path.name}")
    assert not broken, broken


def test_the_readme_is_a_front_page() -> None:
    """Quick start, a picture and a tour; the reference lives in docs/ pages it links."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    assert "## Quick start" in text and "![" in text
    for page in ("CLI", "SERVER", "TOP", "METRICS", "DEPLOY", "DEVELOPMENT"):
        assert f"(docs/{page}.md)" in text
