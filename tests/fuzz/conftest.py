"""Fuzz tests: hypothesis with a fixed seed and a small example count, so CI is quick and
stable; `DEVAGENT_FUZZ_EXAMPLES=5000 pytest tests/fuzz` searches harder (and
`DEVAGENT_FUZZ_RANDOM=1` draws new examples each run instead of the fixed ones)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("DEVAGENT_FUZZ_EXAMPLES", "200"))

settings.register_profile(
    "devagent",
    max_examples=EXAMPLES,
    derandomize=os.environ.get("DEVAGENT_FUZZ_RANDOM") != "1",
    database=None,  # nothing written into the work tree
    deadline=None,  # time is asserted where it matters, not per example on a noisy machine
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("devagent")
