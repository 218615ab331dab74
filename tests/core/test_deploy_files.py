"""The deployment files agree with the code: settings they set exist, shutdown grace periods
outlast the application's own limits, probes and stickiness are where they must be.

Schema checks (yamllint, kubernetes-validate, hadolint, nginx -t) are deploy/check.py's, which
CI runs; these need only PyYAML.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Read by the image's entrypoint (documented in env.example), not by settings.py.
ENTRYPOINT_VARS = {"PORT", "WORKER_CONCURRENCY"}
# Set inside the image for Python and the libraries, not for operators.
IMAGE_INTERNAL = {
    "DJANGO_SETTINGS_MODULE",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PATH",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
}


def setting_names() -> set[str]:
    source = (ROOT / "webui_backend" / "settings.py").read_text()
    pattern = r'env_(?:str|bool|int|list|choice|rate|roles)\(\s*"([A-Z_0-9]+)"'
    names = set(re.findall(pattern, source))
    return names | {"DATABASE_URL"}


def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        if path.name in {"kustomization.yaml", "functions-patch.yaml"}:
            continue
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def seconds(value: str) -> int:
    return int(value.removesuffix("s"))


def test_every_variable_the_files_set_is_a_setting_and_documented() -> None:
    example = (DEPLOY / "env.example").read_text()
    k8s = manifests()
    named = set(k8s[("ConfigMap", "webui-config")]["data"])
    named |= set(k8s[("Secret", "webui-secrets")]["stringData"])
    for service in compose()["services"].values():
        named |= set(service.get("environment") or {})
    named -= {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}  # the postgres image's
    dockerfile_env = re.findall(r"^\s+([A-Z_]+)=", (DEPLOY / "Dockerfile").read_text(), re.M)
    named |= set(dockerfile_env) - {"PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}

    assert sorted(named - setting_names() - ENTRYPOINT_VARS - IMAGE_INTERNAL) == []
    documented = (named | ENTRYPOINT_VARS) - IMAGE_INTERNAL
    assert sorted(n for n in documented if f"{n}=" not in example) == []


def test_shutdown_grace_periods_outlast_the_applications_limits() -> None:
    services = compose()["services"]
    app_env = services["web1"]["environment"]
    k8s = manifests()
    config = k8s[("ConfigMap", "webui-config")]["data"]
    web = k8s[("Deployment", "webui-web")]["spec"]["template"]["spec"]
    worker = k8s[("Deployment", "webui-worker")]["spec"]["template"]["spec"]
    pre_stop = int(web["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])

    for name in ("web1", "web2"):
        grace = seconds(services[name]["stop_grace_period"])
        assert grace > int(app_env["SHUTDOWN_TIMEOUT"])
    worker_env = services["worker"]["environment"]
    assert seconds(services["worker"]["stop_grace_period"]) > int(
        worker_env["WORKER_SHUTDOWN_TIMEOUT"]
    )
    assert web["terminationGracePeriodSeconds"] > pre_stop + int(config["SHUTDOWN_TIMEOUT"])
    assert worker["terminationGracePeriodSeconds"] > int(config["WORKER_SHUTDOWN_TIMEOUT"])


def test_migrations_run_before_the_application_starts() -> None:
    services = compose()["services"]

    assert services["migrate"]["command"] == ["migrate"]
    for name in ("web1", "web2", "worker", "beat"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    assert manifests()[("Job", "webui-migrate")]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["migrate"]


def test_probes_autoscaling_and_disruption_budgets() -> None:
    k8s = manifests()
    web = k8s[("Deployment", "webui-web")]["spec"]["template"]["spec"]
    container = web["containers"][0]

    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert web["securityContext"]["runAsNonRoot"] is True
    assert k8s[("HorizontalPodAutoscaler", "webui-web")]["spec"]["scaleTargetRef"]["name"] == (
        "webui-web"
    )
    assert ("PodDisruptionBudget", "webui-web") in k8s
    assert k8s[("Deployment", "webui-beat")]["spec"]["replicas"] == 1
    assert k8s[("Deployment", "webui-beat")]["spec"]["strategy"]["type"] == "Recreate"


def test_balancers_keep_sockets_sticky_and_streams_unbuffered() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    annotations = manifests()[("Ingress", "webui")]["metadata"]["annotations"]

    assert "ip_hash;" in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert nginx.count("proxy_buffering off;") >= 3  # sockets, completions, chat events
    assert "client_max_body_size" in nginx
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in annotations


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_still_checks_the_middleware_settings(tmp_path: Path) -> None:
    """MIDDLEWARE names our subclasses of Django's security, CSRF and clickjacking
    middlewares; the checks that depend on them still run (webui_backend/checks.py)."""
    done = check_deploy(
        {
            "PATH": os.environ.get("PATH", ""),
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "chat.example.com",
            "DEBUG": "false",
        }
    )

    assert done.returncode != 0
    assert "webui_backend.security.W004" in done.stderr  # no HSTS without HTTPS_ONLY
    assert "webui_backend.security.W008" in done.stderr  # no SSL redirect
    assert "(security.W001)" not in done.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "chat.example.com",
        "DEBUG": "false",
        "HTTPS_ONLY": "true",
        "HSTS_INCLUDE_SUBDOMAINS": "true",
        "HSTS_PRELOAD": "true",
        "LOG_FORMAT": "json",
    }
    done = check_deploy(env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_graceful_server_adds_the_websocket_limits_unless_given(monkeypatch: Any) -> None:
    """dev.py, deploy/launch.py and the image's entrypoint rely on it."""
    from daphne.cli import CommandLineInterface

    from webui_backend.server import WEBSOCKET_LIMITS, GracefulCommandLine

    seen: list[list[str]] = []
    monkeypatch.setattr(CommandLineInterface, "run", lambda self, args: seen.append(args))

    GracefulCommandLine().run(["-p", "8080", "webui_backend.asgi:application"])
    GracefulCommandLine().run(["--websocket-max-frame-size=1", "webui_backend.asgi:application"])

    assert set(WEBSOCKET_LIMITS) <= set(seen[0])
    assert not set(WEBSOCKET_LIMITS) & set(seen[1])
