"""The generated helper-id table (src/devagent/bpf/helper_ids.py) and its generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from devagent.bpf.helper_ids import HELPER_NAMES

ROOT = Path(__file__).resolve().parents[2]
HEADER = Path("/usr/include/linux/bpf.h")


def generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "gen_helper_ids", ROOT / "scripts" / "gen_helper_ids.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not HEADER.exists(), reason="linux/bpf.h is not installed")
def test_committed_table_matches_the_header_on_this_machine() -> None:
    gen = generator()
    names = gen.helper_names(HEADER.read_text())
    assert list(HELPER_NAMES) == names
    assert gen.render(names, "linux/bpf.h") == gen.MODULE.read_text()
    assert gen.main(["--check", "--header", str(HEADER)]) == 0


def test_both_header_forms_are_understood() -> None:
    """Up to Linux 6.1 the ids are positions (`FN(name)`); since 6.2 they are explicit
    (`FN(name, id, ##ctx)` in `___BPF_FUNC_MAPPER`)."""
    gen = generator()
    old = (
        "#define __BPF_FUNC_MAPPER(FN)\t\t\\\n\tFN(unspec),\t\t\\\n"
        "\tFN(map_lookup_elem),\t\\\n\tFN(map_update_elem),\t\\\n\t/* */\n"
    )
    new = (
        "#define ___BPF_FUNC_MAPPER(FN, ctx...)\t\t\\\n\tFN(unspec, 0, ##ctx)\t\t\\\n"
        "\tFN(map_update_elem, 2, ##ctx)\t\\\n\tFN(map_lookup_elem, 1, ##ctx)\t\\\n\t/* */\n\n"
        "/* backwards-compatibility macros for users of __BPF_FUNC_MAPPER that don't\n"
        " * know or care about integer value that is now passed as second argument\n */\n"
        "#define __BPF_FUNC_MAPPER_APPLY(name, value, FN) FN(name),\n"
        "#define __BPF_FUNC_MAPPER(FN) ___BPF_FUNC_MAPPER(__BPF_FUNC_MAPPER_APPLY, FN)\n"
    )
    want = ["bpf_unspec", "bpf_map_lookup_elem", "bpf_map_update_elem"]
    assert gen.helper_names(old) == want
    assert gen.helper_names(new) == want
    with pytest.raises(ValueError, match="without a name"):
        gen.helper_names(new.replace("FN(map_lookup_elem, 1, ##ctx)", "FN(x, 5, ##ctx)"))
