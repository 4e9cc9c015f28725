"""Shared helpers of the tests in tests/k8s: where the repository is,
rendering kustomizations with `kubectl kustomize` (offline), YAML loading."""

import os
import shutil
import subprocess

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "k8s")
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/prod"]


def render(kustomization):
    """The documents `kubectl kustomize k8s/<kustomization>` prints."""
    if not shutil.which("kubectl"):
        fail("kubectl is not installed (it renders the kustomizations offline)")
    out = subprocess.run(["kubectl", "kustomize", os.path.join(K8S, kustomization)],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def fail(msg):
    print("FAIL: " + msg)
    raise SystemExit(1)
