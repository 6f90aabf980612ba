"""Deployment files checked offline: compose spec, Kubernetes schemas, hadolint, consistency."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config.load import parse
from tests.fakes.paths import ROOT

DEPLOY = ROOT / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is missing: it is a dev dependency"
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_compose_file_follows_the_compose_spec() -> None:
    compose = DEPLOY / "docker-compose.yml"
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose))
    assert result.returncode == 0, result.stdout + result.stderr
    services = yaml.safe_load(compose.read_text())["services"]
    assert {"student", "teacher", "gateway", "redis", "prometheus", "grafana"} <= set(services)
    for service in services.values():  # every mounted file of the repo exists
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists() or "models" in source, source


def test_kubernetes_manifests_validate_strictly() -> None:
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", *map(str, K8S))
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {d["kind"] for p in K8S for d in docs(p)}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"} <= kinds  # fmt: skip
    gpus = [
        c["resources"]["requests"].get("nvidia.com/gpu")
        for p in K8S for d in docs(p) if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]  # fmt: skip
    assert gpus.count("1") == 2  # student and teacher each ask for a GPU


def test_operator_resources_match_the_plain_prometheus_files() -> None:
    rule = docs(DEPLOY / "k8s" / "prometheusrule.yaml")[0]
    assert rule["spec"] == yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    monitor = docs(DEPLOY / "k8s" / "servicemonitor.yaml")[0]
    service = next(d for d in docs(DEPLOY / "k8s" / "gateway.yaml") if d["kind"] == "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_configmap_carries_the_deploy_config_and_it_is_valid() -> None:
    cm = docs(DEPLOY / "k8s" / "configmap.yaml")[0]
    text = (DEPLOY / "config" / "distillgate.yaml").read_text()
    assert cm["data"]["distillgate.yaml"] == text
    loaded = parse(text.encode(), {}, "deploy")
    assert loaded.settings.reload.watch  # a ConfigMap update reloads without a restart
    assert loaded.settings.state.backend == "memory"  # one replica needs nothing else
    # what gateway.yaml and shadow-worker.yaml set: the replicas share redis.yaml's Redis
    for name in ("gateway.yaml", "shadow-worker.yaml"):
        pod = next(d for d in docs(DEPLOY / "k8s" / name) if d["kind"] == "Deployment")
        env = {
            e["name"]: e.get("value")
            for e in pod["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        env["REDIS_URL"] = (env["REDIS_URL"] or "").replace("$(REDIS_PASSWORD)", "pw")
        shared = parse(text.encode(), {k: v for k, v in env.items() if v}, name)
        assert shared.settings.state.backend == "redis"
        assert shared.settings.state.url == "redis://:pw@distillgate-redis:6379/0"
    redis_service = next(d for d in docs(DEPLOY / "k8s" / "redis.yaml") if d["kind"] == "Service")
    assert redis_service["metadata"]["name"] == "distillgate-redis"
    deployment = next(d for d in docs(DEPLOY / "k8s" / "gateway.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    probes = pod["containers"][0]
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_dockerfile_lints_clean_and_runs_as_non_root() -> None:
    dockerfile = ROOT / "Dockerfile"
    result = run(tool("hadolint"), str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "USER 10001" in text and "/healthz" in text and '"serve"' in text


@pytest.mark.parametrize("name", ["distillation-gap.json", "gateway.json"])
def test_compose_provisions_the_dashboards(name: str) -> None:
    assert (ROOT / "grafana" / "dashboards" / name).exists()
    provider = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "dashboards" / "distillgate.yml").read_text()
    )
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(
        m.endswith(":" + provider["providers"][0]["options"]["path"] + ":ro") for m in mounts
    )


def test_the_gpu_run_config_is_valid() -> None:
    text = (DEPLOY / "gpu" / "distillgate.yaml").read_bytes()
    off = parse(text, {"SHADOW_ENABLED": "false", "SHADOW_RATE": "0.0"}, "gpu")
    assert off.settings.shadow.enabled is False
    full = parse(text, {"SHADOW_RATE": "1.0"}, "gpu")
    assert full.settings.routing.categories["code"].shadow_rate == 1.0
    assert full.settings.routing.categories["code"].min_mean_logprob == -5
    assert full.settings.routing.escalation.commit_tokens == 4


def test_redis_has_a_password_and_admits_only_distillgate_pods() -> None:
    redis = docs(DEPLOY / "k8s" / "redis.yaml")
    deployment = next(d for d in redis if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secret["REDIS_PASSWORD"] == {"name": "distillgate-secrets", "key": "redis-password"}
    policy = next(d for d in redis if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"] == deployment["spec"]["selector"]
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]
    clients = {
        next(d for d in docs(DEPLOY / "k8s" / name) if d["kind"] == "Deployment")["spec"][
            "template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        for name in ("gateway.yaml", "shadow-worker.yaml")
    }  # fmt: skip
    assert set(allowed["values"]) == clients
    example = docs(DEPLOY / "k8s" / "secret.example.yaml")[0]
    assert "redis-password" in example["stringData"]
