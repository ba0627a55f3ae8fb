"""deploy/prometheus/rules.yml: valid for promtool, and its unit tests (rules_test.yml, where
the real `for:` durations are proven) pass. Every alert of the file has a test there."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REQUIRE_KERNEL, ROOT

RULES_DIR = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        if REQUIRE_KERNEL:
            pytest.fail("promtool is missing (scripts/test installs Debian's prometheus)")
        pytest.skip("promtool is missing (scripts/test installs Debian's prometheus)")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=RULES_DIR)


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 18 rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", "rules_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    rules = yaml.safe_load((RULES_DIR / "rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {"DevagentEbpfMapNearlyFull", "DevagentEbpfProgramHighCPU",
                      "DevagentEbpfRunStatsDisabled", "DevagentEbpfMapExportTruncated",
                      "DevagentDown", "DevagentEbpfProgramVanished"}  # fmt: skip
    tests = yaml.safe_load((RULES_DIR / "rules_test.yml").read_text())["tests"]
    cases = [case for t in tests for case in t.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fires == alerts and quiet == alerts
