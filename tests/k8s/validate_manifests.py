#!/usr/bin/python3
"""Validates every manifest of k8s/ offline, without a cluster:

1. every kustomization.yaml names only files that exist (resources, files of
   generators, patches);
2. base and each overlay render with `kubectl kustomize`;
3. every rendered object is built into the typed models of Debian's
   python3-kubernetes, strictly: an unknown field, or a value of the wrong
   type, is an error naming its path;
4. checks the issue asks of the manifests (probes, securityContext, grace
   period longer than the drain, ...).

A self-check first feeds the validator broken objects (misspelt key, wrong
type) and fails if it accepts them, so this test cannot pass by checking
nothing. Run with /usr/bin/python3 (Debian's modules)."""

import configparser
import datetime
import os
import re
import sys

import kubernetes.client as kc

from k8s_common import K8S, KUSTOMIZATIONS, fail, render


def model_class(api_version, kind):
    version = api_version.split("/")[-1]
    cls = getattr(kc, version.capitalize() + kind, None)
    if cls is None:
        raise ValueError("no python3-kubernetes model for %s %s" % (api_version, kind))
    return cls


def build(type_name, value, path):
    """The model object for `value` of OpenAPI type `type_name`; raises
    ValueError naming `path` on unknown fields or wrong types."""
    if value is None:
        return None
    m = re.match(r"list\[(.*)\]$", type_name)
    if m:
        if not isinstance(value, list):
            raise ValueError("%s: expected a list, got %r" % (path, value))
        return [build(m.group(1), v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
    m = re.match(r"dict\(([^,]*), (.*)\)$", type_name)
    if m:
        if not isinstance(value, dict):
            raise ValueError("%s: expected a map, got %r" % (path, value))
        return {k: build(m.group(2), v, "%s.%s" % (path, k)) for k, v in value.items()}
    if type_name == "str":
        if not isinstance(value, str):
            raise ValueError("%s: expected a string, got %r" % (path, value))
        return value
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("%s: expected an integer, got %r" % (path, value))
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("%s: expected a number, got %r" % (path, value))
        return value
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ValueError("%s: expected true or false, got %r" % (path, value))
        return value
    if type_name == "object":  # IntOrString, Quantity, raw JSON
        return value
    if type_name == "datetime":
        if not isinstance(value, (str, datetime.datetime)):
            raise ValueError("%s: expected a time, got %r" % (path, value))
        return value
    cls = getattr(kc, type_name, None)
    if cls is None:
        raise ValueError("%s: unknown model type %s" % (path, type_name))
    if not isinstance(value, dict):
        raise ValueError("%s: expected an object (%s), got %r" % (path, type_name, value))
    by_json = {j: a for a, j in cls.attribute_map.items()}
    kwargs = {}
    for key, v in value.items():
        if key not in by_json:
            raise ValueError("%s: unknown field %r (%s has: %s)"
                             % (path, key, type_name, ", ".join(sorted(by_json))))
        attr = by_json[key]
        kwargs[attr] = build(cls.openapi_types[attr], v, "%s.%s" % (path, key))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError("%s: %s" % (path, e))


def validate(doc):
    cls = model_class(doc["apiVersion"], doc["kind"])
    build(cls.__name__, doc, "%s/%s" % (doc["kind"], doc.get("metadata", {}).get("name")))


def self_check():
    """The validator must reject what it is meant to catch."""
    good = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}}
    validate(good)
    bad = [
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
          "spec": {"prots": [{"port": 80}]}}, "unknown field 'prots'"),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
          "spec": {"ports": [{"port": "eighty"}]}}, "expected an integer"),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
          "spec": {"selector": {}, "template": {"spec": {"containers": [{"image": "i"}]}}}},
         "name"),  # a container without its required name
    ]
    for doc, expect in bad:
        try:
            validate(doc)
        except ValueError as e:
            if expect not in str(e):
                fail("self-check: rejected for another reason than %r: %s" % (expect, e))
            continue
        fail("self-check: accepted a broken manifest (%s)" % expect)


def check_kustomization_files():
    n = 0
    for dirpath, _, files in os.walk(K8S):
        if "kustomization.yaml" not in files:
            continue
        import yaml
        with open(os.path.join(dirpath, "kustomization.yaml")) as f:
            k = yaml.safe_load(f)
        refs = list(k.get("resources", []))
        for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
            refs += [f.split("=", 1)[-1] for f in gen.get("files", [])]
        refs += [p["path"] for p in k.get("patches", []) if "path" in p]
        refs += k.get("patchesStrategicMerge", [])
        for r in refs:
            if not os.path.exists(os.path.join(dirpath, r)):
                fail("%s/kustomization.yaml names %s, which does not exist"
                     % (os.path.relpath(dirpath, K8S), r))
            n += 1
    return n


def container_of(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d, d["spec"]["template"]["spec"]["containers"][0]
    fail("no %s %s" % (kind, name))


def check_policies(name, docs):
    """What the issue asks of the manifests, beyond their schema."""
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for want in [("StatefulSet", "taskrt-head"), ("Deployment", "taskrt-worker"),
                 ("Service", "taskrt-head"), ("Service", "taskrt-head-pods"),
                 ("PodDisruptionBudget", "taskrt-worker"), ("NetworkPolicy", "taskrt-head"),
                 ("NetworkPolicy", "taskrt-worker")]:
        if want not in kinds:
            fail("%s: missing %s %s" % (name, *want))
    config = next(d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].startswith("taskrt-config"))
    ini = configparser.ConfigParser()
    ini.read_string(config["data"]["taskrt.ini"])
    drain = float(ini["start"]["drain-grace"])
    for kind, cname in [("StatefulSet", "taskrt-head"), ("Deployment", "taskrt-worker")]:
        d, c = container_of(docs, kind, cname)
        pod = d["spec"]["template"]["spec"]
        where = "%s: %s %s" % (name, kind, cname)
        for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
            if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                fail("%s: %s must GET %s" % (where, probe, path))
        if not pod["securityContext"].get("runAsNonRoot"):
            fail(where + ": runAsNonRoot")
        sc = c["securityContext"]
        if not sc.get("readOnlyRootFilesystem") or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(where + ": readOnlyRootFilesystem and capabilities drop ALL")
        if not c.get("resources", {}).get("requests") or not c["resources"].get("limits"):
            fail(where + ": resource requests and limits")
        env = {e["name"]: e for e in c.get("env", [])}
        if kind == "StatefulSet" and "secretKeyRef" not in env.get(
                "TASKRT_DATABASE_URL", {}).get("valueFrom", {}):
            fail(where + ": the DSN must come from a Secret")
        vols = {v["name"]: v for v in pod["volumes"]}
        if "secret" not in vols.get("tls", {}):
            fail(where + ": TLS certificates from a Secret")
        if "configMap" not in vols.get("config", {}):
            fail(where + ": the config file from a ConfigMap")
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true":
            fail(where + ": Prometheus scrape annotations")
        if kind == "Deployment":
            grace = pod["terminationGracePeriodSeconds"]
            if grace <= drain:
                fail("%s: terminationGracePeriodSeconds %s must be longer than the drain (%s s)"
                     % (where, grace, drain))
            if "preStop" not in c.get("lifecycle", {}):
                fail(where + ": preStop drain")


def main():
    self_check()
    refs = check_kustomization_files()
    total = 0
    for k in KUSTOMIZATIONS:
        docs = render(k)
        for d in docs:
            try:
                validate(d)
            except ValueError as e:
                fail("k8s/%s: %s" % (k, e))
        check_policies(k, docs)
        total += len(docs)
        print("k8s/%s: %d objects valid (python3-kubernetes, strict)" % (k, len(docs)))
    print("ok: %d kustomization references exist, %d objects valid" % (refs, total))


if __name__ == "__main__":
    main()
