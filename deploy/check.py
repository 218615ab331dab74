#!/usr/bin/env python3
"""Check the deployment files with the tools this machine has (no Docker engine needed).

    python deploy/check.py        # exit 1 if a check that ran failed

- yamllint: every YAML file under deploy/;
- kubernetes-validate (offline schemas, strict): every manifest in deploy/k8s/, and the web
  Deployment with functions-patch.yaml applied, against Kubernetes 1.30 and the newest;
- hadolint: deploy/Dockerfile;
- nginx -t: deploy/nginx.conf (upstream host names pointed at loopback);
- docker compose config: compose.yaml and compose.yaml + compose.functions.yaml (client only).

A tool that is missing is reported as skipped, not passed. .ci/run installs the first three.
"""

import copy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
K8S = HERE / "k8s"
YAMLLINT_CONFIG = (
    "{extends: default, rules: {line-length: {max: 110}, document-start: disable, "
    "truthy: {check-keys: false}, braces: {max-spaces-inside: 1}}}"
)
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]


def tool(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def run(label: str, command: list[str]) -> bool:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    ok = done.returncode == 0
    print(f"{'ok  ' if ok else 'FAIL'} {label}")
    if not ok:
        print((done.stdout + done.stderr).strip())
    return ok


def merged_functions_deployment() -> dict[str, Any]:
    """web.yaml's Deployment with functions-patch.yaml merged in (containers by name)."""
    documents = yaml.safe_load_all((K8S / "web.yaml").read_text())
    web = next(d for d in documents if d["kind"] == "Deployment")
    patch = yaml.safe_load((K8S / "functions-patch.yaml").read_text())

    def merge(base: Any, extra: Any) -> Any:
        if isinstance(base, dict) and isinstance(extra, dict):
            out = copy.deepcopy(base)
            for key, value in extra.items():
                out[key] = merge(base.get(key), value) if key in base else value
            return out
        if (
            isinstance(base, list)
            and isinstance(extra, list)
            and all(isinstance(i, dict) and "name" in i for i in base + extra)
        ):
            by_name = {i["name"]: i for i in base}
            for item in extra:
                by_name[item["name"]] = merge(by_name.get(item["name"], {}), item)
            return list(by_name.values())
        return extra

    return merge(web, patch)


def main() -> int:
    results: list[bool] = []
    skipped: list[str] = []
    yamls = sorted(str(p) for p in HERE.rglob("*.yaml"))

    if linter := tool("yamllint"):
        results.append(run("yamllint deploy/", [linter, "-s", "-d", YAMLLINT_CONFIG, *yamls]))
    else:
        skipped.append("yamllint")

    if validator := tool("kubernetes-validate"):
        not_resources = {"kustomization.yaml", "functions-patch.yaml"}
        manifests = sorted(str(p) for p in K8S.glob("*.yaml") if p.name not in not_resources)
        with tempfile.TemporaryDirectory() as folder:
            merged = Path(folder) / "web-with-functions.yaml"
            merged.write_text(yaml.safe_dump(merged_functions_deployment()))
            for version in KUBERNETES_VERSIONS:
                results.append(
                    run(
                        f"kubernetes-validate --strict (Kubernetes {version})",
                        [validator, "--strict", "--quiet", "-k", version, *manifests, str(merged)],
                    )
                )
    else:
        skipped.append("kubernetes-validate")

    if hadolint := tool("hadolint"):
        results.append(run("hadolint deploy/Dockerfile", [hadolint, str(HERE / "Dockerfile")]))
    else:
        skipped.append("hadolint")

    if nginx := tool("nginx"):
        with tempfile.TemporaryDirectory() as folder:
            conf = Path(folder) / "nginx.conf"
            text = (HERE / "nginx.conf").read_text().replace("web1:", "127.0.0.1:")
            conf.write_text(text.replace("web2:", "127.0.0.2:"))
            command = [nginx, "-t", "-q", "-p", folder, "-c", str(conf)]
            results.append(run("nginx -t deploy/nginx.conf", command))
    else:
        skipped.append("nginx -t")

    docker = tool("docker")
    has_compose = (
        docker
        and subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if has_compose:
        base = [docker, "compose", "-f", str(HERE / "compose.yaml")]
        results.append(run("docker compose config", [*base, "config", "-q"]))
        functions = [*base, "-f", str(HERE / "compose.functions.yaml"), "config", "-q"]
        results.append(run("docker compose config (+ functions)", functions))
    else:
        skipped.append("docker compose config (no compose plugin)")

    for name in skipped:
        print(f"skip {name}: not installed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
