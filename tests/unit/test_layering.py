"""The package's architecture, enforced: imports go downward only, and no module imports
itself back through others (docs/ARCHITECTURE.md).

Every `import` and `from ... import` of every module counts, including the ones inside
functions and under TYPE_CHECKING: a lazy import is still a dependency, and lazy imports
were how the old btf/objects/links circle hid.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "devagent"

# Layer ranks: a module may import from its own layer or from a lower rank. Layers of the
# same rank (api, metrics) are independent consumers and may not import each other.
LAYERS = {"bpf": 0, "model": 1, "runtime": 1, "api": 2, "metrics": 2, "web": 3, "cli": 4}
# devagent/__init__.py (the version) may be imported from anywhere; __main__ only runs cli.
TOP_LEVEL = {"devagent": -1, "devagent.__main__": 5}
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name a `from` import names (before the imported names)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported devagent module, line) for every import in the module."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("devagent"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, path.name == "__init__.py", node)
            if not target.startswith("devagent"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                # `from . import procfs` imports a module; `from .x import y` a name of x.
                yield (sub if sub in modules else target), node.lineno


def layer_of(module: str) -> tuple[str, int]:
    if module in TOP_LEVEL:
        return module, TOP_LEVEL[module]
    layer = module.split(".")[1]
    assert layer in LAYERS, f"{module} is in no layer: add it to docs/ARCHITECTURE.md and here"
    return layer, LAYERS[layer]


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, _ in imports_of(name, path, modules):
            if target != name and target in modules:
                edges[name].add(target)
    return edges


def test_every_module_is_in_a_layer() -> None:
    for module in all_modules():
        layer_of(module)


def test_imports_go_downward_only() -> None:
    modules = all_modules()
    wrong = []
    for name, path in modules.items():
        layer, rank = layer_of(name)
        for target, line in imports_of(name, path, modules):
            if target not in modules:
                wrong.append(
                    f"{path.relative_to(SRC)}:{line} imports {target}, which does not exist"
                )
                continue
            t_layer, t_rank = layer_of(target)
            if t_layer != layer and t_rank >= rank:
                wrong.append(
                    f"{path.relative_to(SRC)}:{line}: {layer} imports {target} ({t_layer})"
                )
    assert not wrong, "\n".join(wrong)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            # A package's __init__ re-exporting its own modules is not a cycle they close.
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    """The checker itself must see a circle like the old btf -> objects -> links -> btf."""
    edges = {"a.btf": {"a.objects"}, "a.objects": {"a.links"}, "a.links": {"a.btf"}}
    assert find_cycle(edges) == ["a.btf", "a.objects", "a.links", "a.btf"]
    assert find_cycle({"a.x": {"a.y"}, "a.y": set()}) is None


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """An import from bpf up into the model is reported (checked on a copy of the rules)."""
    module = "devagent.bpf.maps"
    node = ast.parse("from ..model.codec import Format").body[0]
    assert isinstance(node, ast.ImportFrom)
    target = resolve(module, False, node)
    assert target == "devagent.model.codec"
    assert layer_of(target)[1] > layer_of(module)[1]


@pytest.mark.parametrize("name", sorted(all_modules()))
def test_modules_stay_small_or_say_why(name: str) -> None:
    path = all_modules()[name]
    text = path.read_text()
    lines = text.count("\n")
    if lines > MAX_LINES:
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert "Longer than" in doc, (
            f"{path.relative_to(SRC)} has {lines} lines: split it, or say in its docstring "
            f"why it is 'Longer than {MAX_LINES} lines'"
        )


@pytest.mark.parametrize("package", sorted(p.name for p in PACKAGE.iterdir() if p.is_dir()
                                           and (p / "__init__.py").exists()))  # fmt: skip
def test_packages_say_what_they_are(package: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert doc and len(doc.splitlines()) >= 3, f"devagent.{package} needs a docstring"
