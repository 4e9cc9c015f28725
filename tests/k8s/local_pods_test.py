#!/usr/bin/python3
"""The dev overlay, run as local processes: what Kubernetes would start,
started here without a cluster.

`kubectl kustomize k8s/overlays/dev` is rendered; the head StatefulSet (two
replicas: active and standby) and the worker Deployment (two replicas) become
"pods": each container's command (the
image's ENTRYPOINT, taskrt, when the manifest gives none), args and env are
taken as written, with only what a cluster provides substituted:
  - env from fieldRef (the pod name), Secrets and ConfigMaps, and $(VAR) in
    args expanded by the Kubernetes rules;
  - volumes: ConfigMap and Secret files written into the pod's own directory,
    emptyDirs as directories; paths under a mountPath (in args, env values and
    the mounted config file) point there;
  - network: 0.0.0.0 becomes 127.0.0.1; each pod's containerPorts get free
    local ports (pods have their own IP in a cluster, here they share
    loopback); a headless Service's names map to the selected pod's port; a
    ClusterIP Service gets a local port of its own where each new connection
    goes to a selected pod whose readinessProbe passes, as kube-proxy routes
    to ready endpoints only;
  - the Secret taskrt-db's DSN (the dev Postgres) becomes a fresh schema of
    TASKRT_TEST_DSN (or of a private Postgres from scripts/pg); the dev
    Postgres StatefulSet is not started. The dev overlay is plaintext (its
    optional Secret taskrt-tls is absent, an empty mount); given a TLS
    directory, cluster_objects() provides that Secret as
    `taskrt certs generate --names head,worker,client` makes it.
Then, as a kubelet and a user would:
  0. two worker pods started before the head answer their livenessProbe but
     not their readinessProbe (503: not registered with a head);
  1. the first head pod's startupProbe, then readinessProbe, succeed (HTTP
     GET on the probe's port and path, success 200-399, the probe's
     timeout); its livenessProbe succeeds; the second head pod stands by:
     live, and not ready (503 "standby"), so the Service does not route to it;
  2. the worker pods become ready (registered with the head);
  3. tasks run on both nodes; a task that crashes its worker process once is
     retried (LOST, then SUCCEEDED) and the worker process is restarted;
  4. /metrics of head and workers (port and path from the prometheus.io
     annotations) parse with prometheus_client's parser: the metrics this
     code records have the values the test caused, every scheduler metric is
     present;
  5. a worker running attempts is terminated as the kubelet does: preStop
     (PID 1 of the container is the pod's process), then SIGTERM, then
     SIGKILL at terminationGracePeriodSeconds: it exits on its own before
     the SIGKILL, every attempt finishes, and the journal (`taskrt tasks list
     -o json`, `taskrt tasks describe -o json`) shows no LOST for them and the
     node LEFT;
  6. the active head pod is killed (SIGKILL, as when its machine dies): the
     standby turns ready (the time is printed), the Service routes to it, the
     remaining worker re-registers with it through the Service, and the tasks
     submitted before the kill SUCCEEDED with no LOST event; a new submit
     through the Service runs;
  7. every line the pods wrote on stdout is a JSON log object (log-format
     json in the ConfigMap).

With `--overlay prod` it runs the prod overlay instead, with mutual TLS and
the certificates docs/deploy.md (section 2b) makes: the `taskrt certs
generate` command of that section is run as written (into a temporary
directory), and the Secret taskrt-tls gets exactly the files its `kubectl
create secret generic taskrt-tls --from-file=...` names; the Secret taskrt-db
(made by `kubectl create secret` there) holds the test DSN. The active head
pod and two worker pods (pod names as a Deployment's) start; both workers
must register under their pod names with the shared pool certificate and
turn ready, a task submitted with the client certificate through the Service
must succeed on a worker, a worker without a certificate of the pool (the
client's) must be refused, and the pods must stop cleanly.
"""

import base64
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from k8s_common import ROOT, fail, render

TASKRT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith(
    "--") else os.path.join(ROOT, "build", "bin", "taskrt")
WORK = tempfile.mkdtemp(prefix="taskrt-k8s-pods.")
PODS = []
STARTED = time.monotonic()


def log(msg):
    print("[%6.1f s] %s" % (time.monotonic() - STARTED, msg), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, env=None, check=True, timeout=120):
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        fail("%s exited %d: %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


# -- the database -------------------------------------------------------------

class database:
    """A fresh schema on TASKRT_TEST_DSN, or on a private Postgres."""

    def __init__(self):
        self.pg_dir = None
        base = os.environ.get("TASKRT_TEST_DSN")
        if not base:
            self.pg_dir = os.path.join(WORK, "pg")
            base = run([os.path.join(ROOT, "scripts", "pg"), "start", self.pg_dir],
                       timeout=300).stdout.strip().splitlines()[-1]
        self.base = base
        self.schema = "t_k8s_pods_%d" % os.getpid()
        run(["psql", base, "-qc", 'DROP SCHEMA IF EXISTS "%s" CASCADE; CREATE SCHEMA "%s"'
             % (self.schema, self.schema)])
        if "://" in base:
            self.dsn = base + ("&" if "?" in base else "?") + \
                "options=-csearch_path%3D" + self.schema
        else:
            self.dsn = base + " options='-csearch_path=%s'" % self.schema

    def close(self):
        run(["psql", self.base, "-qc", 'DROP SCHEMA IF EXISTS "%s" CASCADE' % self.schema],
            check=False)
        if self.pg_dir:
            run([os.path.join(ROOT, "scripts", "pg"), "stop", self.pg_dir, "--remove"],
                check=False)


# -- objects of the rendered overlay --------------------------------------------

def selects(service, p):
    return all(p.labels.get(k) == v for k, v in service["spec"]["selector"].items())


class service_proxy:
    """One port of a ClusterIP Service, as kube-proxy serves it: a local port
    where each new connection goes to a pod the Service selects whose
    readinessProbe passes at that moment (the endpoints of a Service are its
    ready pods); with none ready the connection is closed at once."""

    def __init__(self, service, service_port):
        self.service = service
        self.service_port = service_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.routed = {}  # pod name -> connections routed to it
        threading.Thread(target=self.serve, daemon=True).start()

    def endpoint(self):
        for p in PODS:
            if selects(self.service, p) and p.proc and p.proc.poll() is None \
                    and "readinessProbe" in p.container and p.probe("readinessProbe")[0]:
                return p
        return None

    def serve(self):
        while True:
            client, _ = self.sock.accept()
            threading.Thread(target=self.connect, args=(client,), daemon=True).start()

    def connect(self, client):
        p = self.endpoint()
        if p is None:
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", p.service_port(self.service_port)))
        except OSError:
            client.close()
            return
        self.routed[p.name] = self.routed.get(p.name, 0) + 1
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class cluster_objects:
    def __init__(self, docs, dsn, tls_dir=None, secrets=None):
        self.docs = docs
        self.namespace = next((d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"),
                              None) or next(d["metadata"]["namespace"] for d in docs
                                            if d["metadata"].get("namespace"))
        self.config_maps = {d["metadata"]["name"]: d.get("data", {})
                            for d in docs if d["kind"] == "ConfigMap"}
        self.secrets = {}
        for d in docs:
            if d["kind"] == "Secret":
                self.secrets[d["metadata"]["name"]] = {
                    k: base64.b64decode(v.replace("\n", "")).decode()
                    for k, v in d.get("data", {}).items()}
                self.secrets[d["metadata"]["name"]].update(d.get("stringData", {}))
        # Secrets the operator makes with kubectl (docs/deploy.md).
        self.secrets.update(secrets or {})
        db = [n for n in self.secrets if n.startswith("taskrt-db")]
        if len(db) != 1 or "dsn" not in self.secrets[db[0]]:
            fail("the dev overlay must generate one Secret taskrt-db with a key dsn")
        self.secrets[db[0]]["dsn"] = dsn
        if tls_dir and "taskrt-tls" not in self.secrets:
            # Made by the operator with `taskrt certs generate` (docs/deploy.md).
            self.secrets["taskrt-tls"] = {
                f: open(os.path.join(tls_dir, f)).read()
                for f in os.listdir(tls_dir) if f != "ca.key"}
        self.services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
        self.proxies = {}

    def proxy(self, name, service_port):
        key = (name, service_port["port"])
        if key not in self.proxies:
            self.proxies[key] = service_proxy(self.services[name], service_port)
        return self.proxies[key]

    def workload(self, kind, name):
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        fail("no %s %s in the dev overlay" % (kind, name))


# -- a pod as a local process ---------------------------------------------------

class pod:
    def __init__(self, objects, workload, name):
        self.objects = objects
        self.name = name
        self.spec = workload["spec"]["template"]["spec"]
        self.annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        self.labels = workload["spec"]["template"]["metadata"].get("labels", {})
        self.container = self.spec["containers"][0]
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir)
        # containerPort -> a local port of this pod
        self.ports = {p["containerPort"]: free_port() for p in self.container.get("ports", [])}
        self.port_names = {p["name"]: p["containerPort"] for p in self.container.get("ports", [])}
        self.mounts = {}
        self.proc = None
        # HTTP calls made to this pod's probes (by the test and by service
        # proxies): (path, code) -> answered calls, path -> unanswered ones.
        self.calls_lock = threading.Lock()
        self.answered = {}
        self.unanswered = {}

    # Paths and addresses as the process sees them here.
    def map_paths(self, s):
        if not self.mounts:
            return s
        # One pass, longest mount first: a mapped path is not mapped again.
        alternatives = "|".join(re.escape(m) for m in sorted(self.mounts, key=len, reverse=True))
        return re.sub(r"(?<![\w/])(" + alternatives + r")(?=/|\b|$)",
                      lambda m: self.mounts[m.group(1)], s)

    def map_network(self, s, pods):
        ns = re.escape(self.objects.namespace)
        suffix = r"(\.%s)?(\.svc(\.cluster\.local)?)?" % ns
        for svc_name, svc in self.objects.services.items():
            selected = [p for p in pods if selects(svc, p)]
            for sp in svc["spec"]["ports"]:
                if svc["spec"].get("clusterIP") == "None":
                    # Headless: POD.SERVICE names each pod; SERVICE alone, the first.
                    for p in selected:
                        host = r"\b%s\.%s%s:%d\b" % (re.escape(p.name), re.escape(svc_name),
                                                       suffix, sp["port"])
                        s = re.sub(host, "127.0.0.1:%d" % p.service_port(sp), s)
                    if not selected:
                        continue
                    local = selected[0].service_port(sp)
                else:
                    local = self.objects.proxy(svc_name, sp).port
                host = r"\b%s%s:%d\b" % (re.escape(svc_name), suffix, sp["port"])
                s = re.sub(host, "127.0.0.1:%d" % local, s)
        s = re.sub(r"\b0\.0\.0\.0\b", "127.0.0.1", s)
        return s

    def service_port(self, service_port):
        """This pod's local port for a Service port's targetPort."""
        tp = service_port.get("targetPort", service_port["port"])
        return self.ports[self.port_names.get(tp, tp)]

    def map_own_ports(self, s):
        for container_port, local in self.ports.items():
            s = re.sub(r"(?<![\d.:])%d(?!\d)" % container_port, str(local), s)
        return s

    def local_port(self, port):
        return self.ports[self.port_names.get(port, port)]

    def materialize(self, pods):
        volumes = {v["name"]: v for v in self.spec.get("volumes", [])}
        root = os.path.join(self.dir, "root")
        for m in self.container.get("volumeMounts", []):
            v = volumes[m["name"]]
            local = root + m["mountPath"]
            if "secret" in v and v["secret"]["secretName"] not in self.objects.secrets:
                if not v["secret"].get("optional"):
                    fail("%s: Secret %s does not exist: the pod would not start"
                         % (self.name, v["secret"]["secretName"]))
                os.makedirs(local, exist_ok=True)  # an optional Secret: empty
                self.mounts[m["mountPath"]] = local
            elif "configMap" in v or "secret" in v:
                if "configMap" in v:
                    data = self.objects.config_maps[v["configMap"]["name"]]
                else:
                    data = self.objects.secrets[v["secret"]["secretName"]]
                    mode = v["secret"].get("defaultMode", 0o644)
                src = v.get("configMap") or v.get("secret")
                items = src.get("items") or [{"key": k, "path": k} for k in data]
                files = {i["path"]: data[i["key"]] for i in items}
                if "subPath" in m:
                    os.makedirs(os.path.dirname(local), exist_ok=True)
                    self.mounts[m["mountPath"]] = local
                    self.pending = getattr(self, "pending", []) + [(local, files[m["subPath"]])]
                else:
                    os.makedirs(local, exist_ok=True)
                    self.mounts[m["mountPath"]] = local
                    for path, content in files.items():
                        with open(os.path.join(local, path), "w") as f:
                            f.write(content)
                        if "secret" in v:
                            os.chmod(os.path.join(local, path), mode)
            elif "emptyDir" in v:
                os.makedirs(local, exist_ok=True)
                os.chmod(local, 0o700)
                self.mounts[m["mountPath"]] = local
            else:
                fail("%s: volume %s: only configMap, secret and emptyDir are emulated"
                     % (self.name, m["name"]))
        # Mounted single files (the config file): their paths, addresses and
        # ports as seen here.
        for local, content in getattr(self, "pending", []):
            with open(local, "w") as f:
                f.write(self.map_own_ports(self.map_network(self.map_paths(content), pods)))

    def environment(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for e in self.container.get("env", []):
            if "value" in e:
                env[e["name"]] = self.map_paths(e["value"])
                continue
            src = e["valueFrom"]
            if "fieldRef" in src:
                field = src["fieldRef"]["fieldPath"]
                env[e["name"]] = {"metadata.name": self.name,
                                  "metadata.namespace": self.objects.namespace}[field]
            elif "secretKeyRef" in src:
                env[e["name"]] = self.objects.secrets[src["secretKeyRef"]["name"]][
                    src["secretKeyRef"]["key"]]
            elif "configMapKeyRef" in src:
                env[e["name"]] = self.objects.config_maps[src["configMapKeyRef"]["name"]][
                    src["configMapKeyRef"]["key"]]
            else:
                fail("%s: env %s: unsupported valueFrom" % (self.name, e["name"]))
        return env

    def command(self, pods, env):
        # The image's ENTRYPOINT is taskrt (k8s/Dockerfile).
        cmd = self.container.get("command") or [TASKRT]
        args = []
        for a in self.container.get("args", []):
            # $(VAR) of the container's env, as Kubernetes expands it.
            a = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a)
            a = self.map_own_ports(a) if a.isdigit() else a
            args.append(self.map_network(self.map_paths(a), pods))
        return cmd + args

    def start(self, pods):
        self.materialize(pods)
        env = self.environment()
        argv = self.command(pods, env)
        self.argv = argv
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.err = open(os.path.join(self.dir, "stderr.log"), "w")
        self.proc = subprocess.Popen(argv, env=env, cwd=self.dir, stdout=self.out,
                                     stderr=self.err, start_new_session=True)
        log("pod %s: pid %d: %s" % (self.name, self.proc.pid, " ".join(argv[1:])))

    # -- what the kubelet does ----------------------------------------------------

    def probe(self, kind):
        p = self.container[kind]
        get = p["httpGet"]
        url = "http://127.0.0.1:%d%s" % (self.local_port(get["port"]), get["path"])
        try:
            with urllib.request.urlopen(url, timeout=p.get("timeoutSeconds", 1)) as r:
                result = 200 <= r.status < 400, r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            result = 200 <= e.code < 400, e.code, e.read().decode()
        except OSError as e:
            result = False, None, str(e)
        with self.calls_lock:
            if result[1] is None:
                self.unanswered[get["path"]] = self.unanswered.get(get["path"], 0) + 1
            else:
                key = (get["path"], str(result[1]))
                self.answered[key] = self.answered.get(key, 0) + 1
        return result

    def calls(self):
        """A snapshot of (answered, unanswered) probe calls."""
        with self.calls_lock:
            return dict(self.answered), dict(self.unanswered)

    def wait_probe(self, kind, limit_s):
        """Calls the probe every periodSeconds (as the kubelet does) until it
        succeeds; fails after limit_s. Returns the number of calls."""
        period = self.container[kind].get("periodSeconds", 10)
        deadline = time.monotonic() + limit_s
        calls = 0
        while True:
            ok, code, body = self.probe(kind)
            calls += 1
            if ok:
                return calls
            if self.proc.poll() is not None:
                fail("pod %s exited (%d) while waiting for its %s:\n%s" % (
                    self.name, self.proc.returncode, kind, self.logs()))
            if time.monotonic() > deadline:
                fail("pod %s: %s did not succeed within %d s (last: %s %s)\n%s" % (
                    self.name, kind, limit_s, code, body.strip(), self.logs()))
            time.sleep(min(period, 1.0))

    def terminate(self):
        """The kubelet's termination: preStop hook, SIGTERM, SIGKILL at
        terminationGracePeriodSeconds. Returns (exited_by_itself, seconds)."""
        grace = self.spec.get("terminationGracePeriodSeconds", 30)
        t0 = time.monotonic()
        pre = self.container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        if pre:
            # PID 1 of the container is the pod's process (ENTRYPOINT exec form).
            hook = [re.sub(r"(kill -(?:TERM|0)) 1\b", r"\g<1> %d" % self.proc.pid, a)
                    for a in pre["command"]]
            log("pod %s: preStop %s" % (self.name, hook))
            hook_proc = subprocess.Popen(hook, cwd=self.dir)
            # The kubelet sends SIGTERM once the hook returns (or the grace is
            # over). Polling reaps the pod's process as soon as it exits (in a
            # container its exit ends the container; here a zombie would keep
            # answering `kill -0`).
            while time.monotonic() - t0 < grace:
                if self.proc.poll() is not None or hook_proc.poll() is not None:
                    break
                time.sleep(0.1)
            try:
                hook_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                hook_proc.kill()
                hook_proc.wait()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=max(0.0, grace - (time.monotonic() - t0)))
            return True, time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False, time.monotonic() - t0

    def logs(self):
        text = ""
        for f in ("stdout.log", "stderr.log"):
            p = os.path.join(self.dir, f)
            if os.path.exists(p):
                text += "--- %s %s\n%s" % (self.name, f, open(p).read()[-4000:])
        return text

    def scrape(self):
        """/metrics where the prometheus.io annotations say, parsed."""
        port = int(self.annotations["prometheus.io/port"])
        path = self.annotations.get("prometheus.io/path", "/metrics")
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.ports[port], path),
                                    timeout=5) as r:
            text = r.read().decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        if not families:
            fail("pod %s: /metrics parsed to nothing" % self.name)
        return families


# -- the CLI, as a user runs it --------------------------------------------------

def cli(args, env, check=True):
    r = run([TASKRT] + args, env=env, check=check)
    return r


def tasks(env, dsn):
    return json.loads(cli(["tasks", "list", "--db", dsn, "--limit", "1000", "-o", "json"],
                          env).stdout)


def describe(env, dsn, task_id):
    return json.loads(cli(["tasks", "describe", str(task_id), "--db", dsn, "-o", "json"],
                          env).stdout)


def wait_tasks(env, dsn, ids, pred, what, limit_s=120):
    deadline = time.monotonic() + limit_s
    while True:
        rows = {t["id"]: t for t in tasks(env, dsn) if t["id"] in ids}
        if len(rows) == len(ids) and all(pred(t) for t in rows.values()):
            return rows
        if time.monotonic() > deadline:
            fail("tasks %s: not %s within %d s: %s" % (
                sorted(ids), what, limit_s,
                {i: (t["state"], t["node"]) for i, t in rows.items()}))
        time.sleep(0.3)


def succeeded_without_lost(env, dsn, ids, when):
    """Waits for `ids` to be final; each must have SUCCEEDED with no LOST event."""
    final = wait_tasks(env, dsn, set(ids),
                       lambda t: t["state"] in ("SUCCEEDED", "FAILED", "LOST", "CANCELLED"),
                       "final")
    for i in ids:
        lost = [e for e in describe(env, dsn, i)["events"] if e["to"] == "LOST"]
        if final[i]["state"] != "SUCCEEDED" or lost:
            fail("task %d %s: %s, LOST events %s" % (i, when, final[i]["state"], lost))


def submit(env, address, name, args, extra=()):
    r = cli(["submit", name, "--args", json.dumps(args), "--address", address, "-o", "json"]
            + list(extra), env)
    return json.loads(r.stdout)["id"]


def sample(families, name, **labels):
    """The value of one sample of a parsed family (counters: without _total)."""
    fam = families.get(name) or families.get(re.sub(r"_total$", "", name))
    if fam is None:
        return None
    for s in fam.samples:
        if s.name in (name, name + "_total") and all(s.labels.get(k) == v
                                                     for k, v in labels.items()):
            return s.value
    return None


def main():
    if not shutil.which("kubectl"):
        fail("kubectl is required (kubectl kustomize renders the manifests)")
    db = database()
    try:
        if "--overlay" in sys.argv and sys.argv[sys.argv.index("--overlay") + 1] == "prod":
            test_prod(db)
        else:
            test(db)
    finally:
        for p in PODS:
            if p.proc and p.proc.poll() is None:
                os.killpg(p.proc.pid, signal.SIGKILL)
                p.proc.wait()
        db.close()
    shutil.rmtree(WORK, ignore_errors=True)
    log("ok")


def test(db):
    # The dev overlay runs plaintext: no Secret taskrt-tls.
    objects = cluster_objects(render("overlays/dev"), db.dsn)
    head_set = objects.workload("StatefulSet", "taskrt-head")
    workers = objects.workload("Deployment", "taskrt-worker")
    if head_set["spec"]["replicas"] != 2 or workers["spec"]["replicas"] != 2:
        fail("expected 2 head (active and standby) and 2 worker replicas in the dev overlay")
    head = pod(objects, head_set, "taskrt-head-0")
    standby = pod(objects, head_set, "taskrt-head-1")
    w1 = pod(objects, workers, "taskrt-worker-5d8f7-a1b2c")
    w2 = pod(objects, workers, "taskrt-worker-5d8f7-d3e4f")
    PODS.extend([head, standby, w1, w2])

    # 0. Pods start in any order: workers before the head are alive but not
    #    ready (not registered) until the head is there.
    for w in (w1, w2):
        w.start(PODS)
    for w in (w1, w2):
        w.wait_probe("livenessProbe", 60)
        ok, code, body = w.probe("readinessProbe")
        if ok or code != 503 or "not registered with a head" not in body:
            fail("worker %s without a head: readiness should be 503 'not registered with a "
                 "head', got %s %r" % (w.name, code, body))
    log("worker pods without a head: live, not ready (503 %r)" % body.strip())

    # 1. The first head pod: startupProbe, then readiness and liveness. (Both
    #    replicas run the same command; which one leads is whichever takes
    #    the journal's lock first: here head-0, started first.)
    head.start(PODS)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        fails = 0
        while True:
            ok, code, body = head.probe(kind)
            if ok:
                break
            fails += 1
            if head.proc.poll() is not None:
                fail("the head exited (%d):\n%s" % (head.proc.returncode, head.logs()))
            if fails > 120:
                fail("head %s never succeeded: %s %s\n%s" % (kind, code, body, head.logs()))
            time.sleep(0.5)
        log("head %s: 200 after %d failed call(s)" % (kind, fails))
    #    The second one stands by: started and live, never ready.
    standby.start(PODS)
    standby.wait_probe("startupProbe", 60)
    standby.wait_probe("livenessProbe", 10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ok, code, body = standby.probe("readinessProbe")
        if ok or code != 503 or "standby" not in body:
            fail("the standby head pod should answer /readyz 503 'standby', got %s %r\n%s"
                 % (code, body, standby.logs()))
        time.sleep(1)
    log("standby head pod: live, not ready (503 %r)" % body.strip())

    # 2. The two worker pods turn ready once registered.
    for w in (w1, w2):
        n = w.wait_probe("readinessProbe", 60)
        ok, code, _ = w.probe("livenessProbe")
        if not ok:
            fail("worker %s liveness: %s" % (w.name, code))
        log("pod %s ready after %d readiness call(s)" % (w.name, n))

    client_env = {k: v for k, v in os.environ.items() if not k.startswith("TASKRT_TLS")}
    # Clients reach the head the way workers do: through the Service.
    service = objects.proxy("taskrt-head", objects.services["taskrt-head"]["spec"]["ports"][0])
    address = "127.0.0.1:%d" % service.port
    nodes = json.loads(cli(["nodes", "--db", db.dsn, "-o", "json"], client_env).stdout)
    # The head is a node too (0 slots: --workers 0).
    alive = sorted(n["id"] for n in nodes if n["state"] == "ALIVE" and n["id"] != head.name)
    if standby.name in {n["id"] for n in nodes}:
        fail("the standby head registered as a node before taking over: %s" % nodes)
    if alive != sorted([w1.name, w2.name]):
        fail("expected the two worker pods ALIVE (node id = pod name), got %s" % nodes)

    # 3. Tasks on both nodes; one crashes its worker process once.
    ids = [submit(client_env, address, "sleep", {"ms": 1000}) for _ in range(12)]
    ids += [submit(client_env, address, "echo", {"i": i}) for i in range(4)]
    crash_id = submit(client_env, address, "crash", {"times": 1},
                      ["--policy", json.dumps({"retries": 2, "wait": 0})])
    done = wait_tasks(client_env, db.dsn, set(ids + [crash_id]),
                      lambda t: t["state"] == "SUCCEEDED", "SUCCEEDED")
    ran_on = {t["node"] for t in done.values()}
    if ran_on != {w1.name, w2.name}:
        fail("tasks should have run on both worker pods, ran on %s" % ran_on)
    crash = describe(client_env, db.dsn, crash_id)
    # Attempts are tries that began (a hand-back is listed under its
    # attempt's "handbacks"): LOST (the crash), then SUCCEEDED.
    tries = crash["attempts"]
    if [a["outcome"] for a in tries] != ["LOST", "SUCCEEDED"]:
        fail("the crash task: expected tries LOST then SUCCEEDED, got %s"
             % [a["outcome"] for a in crash["attempts"]])
    crashed_on = tries[0]["node"]
    log("%d tasks SUCCEEDED on %s; the crash task LOST on %s, then SUCCEEDED"
        % (len(done), sorted(ran_on), crashed_on))

    # 4. Scrapes, parsed by prometheus_client.
    before = head.calls()
    hm = head.scrape()
    after = head.calls()
    for name in ["taskrt_tasks", "taskrt_tasks_finished_total", "taskrt_task_transitions_total",
                 "taskrt_task_duration_seconds",
                 "taskrt_task_queue_wait_seconds", "taskrt_task_retries_total",
                 "taskrt_tasks_lost_total", "taskrt_stale_results_total",
                 "taskrt_journal_commit_duration_seconds", "taskrt_journal_commit_batch_size",
                 "taskrt_nodes", "taskrt_slots_used", "taskrt_slots_free", "taskrt_queue_depth",
                 "taskrt_queue_oldest_age_seconds",
                 "taskrt_http_requests_total", "taskrt_build_info",
                 "taskrt_process_start_time_seconds"]:
        if name not in hm and re.sub(r"_total$", "", name) not in hm:
            fail("head /metrics lacks %s (has %s)" % (name, sorted(hm)))
    # The head runs no workers (--workers 0): no worker or node families.
    for name in ["taskrt_worker_process_restarts", "taskrt_node_registered"]:
        if name in hm:
            fail("head /metrics exports %s, a family of nodes" % name)
    # Live tasks are gauges, finished ones counters.
    for state in ("QUEUED", "RUNNING"):
        if sample(hm, "taskrt_tasks", state=state) is None:
            fail("head /metrics: taskrt_tasks{state=%s} missing" % state)
    for state in ("SUCCEEDED", "FAILED", "CANCELLED", "LOST"):
        if sample(hm, "taskrt_tasks", state=state) is not None:
            fail("head /metrics: taskrt_tasks{state=%s} is a gauge of a final state" % state)
    finished = sample(hm, "taskrt_tasks_finished_total", state="SUCCEEDED")
    if finished is None or finished < len(done):
        fail("head /metrics: taskrt_tasks_finished_total{state=SUCCEEDED} = %s after %d "
             "tasks SUCCEEDED" % (finished, len(done)))
    if (sample(hm, "taskrt_tasks_lost_total", cause="worker_died") or 0) < 1:
        fail("head /metrics: taskrt_tasks_lost_total{cause=worker_died} should count the crash")
    for fam in hm.values():
        for s in fam.samples:
            if s.labels.get("role") != "head":
                fail("head /metrics: sample %s%s has no role=head" % (s.name, s.labels))
    for state in ("ALIVE", "SUSPECT", "DEAD", "DRAINING", "LEFT"):
        if sample(hm, "taskrt_nodes", state=state) is None:
            fail("head /metrics: taskrt_nodes{state=%s} missing" % state)
    if sample(hm, "taskrt_build_info", role="head") != 1:
        fail("head /metrics: taskrt_build_info{role=head} should be 1")
    # Every probe call answered by head-0 (the test's and the Service's) is
    # counted once, by path and code; a call without an answer may or may not
    # be (it can time out after the head counted it).
    for path in ("/healthz", "/readyz"):
        made = {code: n for (p, code), n in before[0].items() if p == path}
        made_after = {code: n for (p, code), n in after[0].items() if p == path}
        got = {code: sample(hm, "taskrt_http_requests_total", path=path, code=code) or 0
               for code in made_after}
        slack = after[1].get(path, 0)
        if any(got[c] < made.get(c, 0) or got[c] > made_after[c] + slack for c in got):
            fail("head /metrics: taskrt_http_requests_total{path=%s} = %s, the calls made "
                 "were %s before the scrape and %s after (%d unanswered)"
                 % (path, got, made, made_after, slack))
    restarts = 0
    for w in (w1, w2):
        wm = w.scrape()
        if sample(wm, "taskrt_node_registered") != 1:
            fail("worker %s: taskrt_node_registered should be 1" % w.name)
        if sample(wm, "taskrt_build_info", role="node") != 1:
            fail("worker %s: taskrt_build_info{role=node} should be 1" % w.name)
        n = sample(wm, "taskrt_worker_process_restarts_total", cause="crashed")
        if n != (1 if w.name == crashed_on else 0):
            fail("worker %s: taskrt_worker_process_restarts_total{cause=crashed} = %s"
                 % (w.name, n))
        restarts += n
        if not sample(wm, "taskrt_http_requests_total", path="/readyz", code="200"):
            fail("worker %s: its readiness calls are not counted" % w.name)
        head_only = sorted(n for n in wm if n.startswith(("taskrt_tasks", "taskrt_task_",
                                                         "taskrt_nodes", "taskrt_slots_",
                                                         "taskrt_queue_", "taskrt_journal_",
                                                         "taskrt_stale_")))
        if head_only:
            fail("worker %s exports head families: %s" % (w.name, head_only))
        for fam in wm.values():
            for s in fam.samples:
                if s.labels.get("role") != "node":
                    fail("worker %s: sample %s%s has no role=node" % (w.name, s.name, s.labels))
    log("scrapes parsed: head %d families, worker process restarts %d (on %s)"
        % (len(hm), restarts, crashed_on))

    # 5. Terminate a worker running attempts, as the kubelet does.
    drain_ids = [submit(client_env, address, "sleep", {"ms": 4000}) for _ in range(4)]
    running = wait_tasks(client_env, db.dsn, set(drain_ids),
                         lambda t: t["state"] in ("RUNNING", "SUCCEEDED"), "RUNNING", 60)
    by_node = {}
    for t in running.values():
        by_node.setdefault(t["node"], []).append(t["id"])
    victim = w1 if w1.name in by_node else w2
    log("draining %s while it runs tasks %s" % (victim.name, by_node.get(victim.name)))
    by_itself, took = victim.terminate()
    if not by_itself:
        fail("%s did not exit within terminationGracePeriodSeconds (%ss): SIGKILLed\n%s"
             % (victim.name, victim.spec["terminationGracePeriodSeconds"], victim.logs()))
    if victim.proc.returncode != 0:
        fail("%s exited %d after the drain\n%s" % (victim.name, victim.proc.returncode,
                                                   victim.logs()))
    log("%s drained and exited 0 in %.1f s (grace %ss)"
        % (victim.name, took, victim.spec["terminationGracePeriodSeconds"]))
    succeeded_without_lost(client_env, db.dsn, drain_ids, "after the drain")
    nodes = {n["id"]: n["state"] for n in json.loads(
        cli(["nodes", "--db", db.dsn, "-o", "json"], client_env).stdout)}
    if nodes.get(victim.name) != "LEFT":
        fail("the drained node should be LEFT, nodes: %s" % nodes)
    lost_now = [t for t in tasks(client_env, db.dsn) if t["state"] == "LOST"]
    if lost_now:
        fail("tasks LOST after the drain: %s" % lost_now)
    log("journal: the %d drained tasks SUCCEEDED with no LOST event; %s is LEFT"
        % (len(drain_ids), victim.name))

    # 6. The active head's machine dies: SIGKILL, no drain. The standby takes
    #    over, turns ready, and the Service routes to it.
    worker = w1 if victim is w2 else w2
    kill_ids = [submit(client_env, address, "sleep", {"ms": 1500}) for _ in range(4)]
    wait_tasks(client_env, db.dsn, set(kill_ids),
               lambda t: t["state"] in ("RUNNING", "SUCCEEDED"), "RUNNING", 60)
    head.proc.kill()
    head.proc.wait()
    killed = time.monotonic()
    log("killed the active head pod %s (SIGKILL) with tasks %s running" % (head.name, kill_ids))
    calls = standby.wait_probe("readinessProbe", 60)
    took_over = time.monotonic() - killed
    log("standby %s ready %.1f s after the kill (%d readiness calls)"
        % (standby.name, took_over, calls))
    worker.wait_probe("readinessProbe", 60)
    succeeded_without_lost(client_env, db.dsn, kill_ids, "across the takeover")
    after_id = submit(client_env, address, "echo", {"after": "takeover"})
    wait_tasks(client_env, db.dsn, {after_id}, lambda t: t["state"] == "SUCCEEDED", "SUCCEEDED")
    if service.routed.get(standby.name, 0) == 0:
        fail("the Service never routed to the new active head: %s" % service.routed)
    log("takeover: the %d running tasks SUCCEEDED with no LOST event; a new submit ran on "
        "%s; connections routed by the Service: %s" % (len(kill_ids), standby.name,
                                                      service.routed))

    # The new head and the worker stop cleanly; then the logs.
    for p in (standby, worker):
        by_itself, took = p.terminate()
        if not by_itself or p.proc.returncode != 0:
            fail("%s: did not stop cleanly (exit %s)\n%s" % (p.name, p.proc.returncode,
                                                              p.logs()))
    # 7. JSON logs on stdout.
    lines = 0
    for p in PODS:
        for line in open(os.path.join(p.dir, "stdout.log")):
            try:
                j = json.loads(line)
            except ValueError:
                fail("pod %s wrote a line that is not JSON: %r" % (p.name, line))
            if not {"time", "level", "message", "node"} <= set(j):
                fail("pod %s: log line without time/level/message/node: %r" % (p.name, line))
            lines += 1
    if lines < 6:
        fail("expected the pods' logs on stdout, found %d lines" % lines)
    log("%d JSON log lines from %d pods" % (lines, len(PODS)))


def documented_tls_secret():
    """The certificates and the Secret taskrt-tls as docs/deploy.md, section
    2b, makes them: its `taskrt certs generate` run as written (./tls is a
    temporary directory here), the Secret with the files its `kubectl create
    secret generic taskrt-tls` names. Returns (tls_dir, secret)."""
    text = open(os.path.join(ROOT, "docs", "deploy.md")).read()
    section = text[text.index("### 2b."):text.index("### 3.")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = re.sub(r"\\\n\s*", " ", blocks[0]).split("\n")
    gen = next(l for l in lines if l.startswith("taskrt certs generate "))
    secret = next(l for l in lines if "create secret generic taskrt-tls" in l)
    tls_dir = os.path.join(WORK, "tls")
    argv = shlex.split(gen.split("#")[0])
    argv = [TASKRT] + [tls_dir if a == "./tls" else a for a in argv[1:]]
    log("certificates as docs/deploy.md makes them: %s" % " ".join(argv[1:]))
    run(argv)
    files = re.findall(r"--from-file=\./tls/(\S+)", secret)
    if not files:
        fail("docs/deploy.md 2b: no --from-file in %r" % secret)
    return tls_dir, {f: open(os.path.join(tls_dir, f)).read() for f in files}


def test_prod(db):
    tls_dir, tls_secret = documented_tls_secret()
    objects = cluster_objects(render("overlays/prod"), db.dsn,
                              secrets={"taskrt-db": {"dsn": db.dsn}, "taskrt-tls": tls_secret})
    head_set = objects.workload("StatefulSet", "taskrt-head")
    workers = objects.workload("Deployment", "taskrt-worker")
    head = pod(objects, head_set, "taskrt-head-0")
    w1 = pod(objects, workers, "taskrt-worker-5f7d9-x2x4k")
    w2 = pod(objects, workers, "taskrt-worker-5f7d9-q8z7m")
    PODS.extend([head, w1, w2])
    head.start(PODS)
    for kind in ("startupProbe", "readinessProbe"):
        head.wait_probe(kind, 120)
    log("prod head pod ready (mutual TLS)")
    for w in (w1, w2):
        w.start(PODS)
    for w in (w1, w2):
        n = w.wait_probe("readinessProbe", 60)
        log("prod worker pod %s registered with the pool certificate, ready after %d "
            "readiness call(s)" % (w.name, n))
    # A client pod: ca.pem and the client pair of the Secret.
    client_dir = os.path.join(WORK, "client-tls")
    os.makedirs(client_dir)
    for f in ("ca.pem", "client.pem", "client.key"):
        if f not in tls_secret:
            fail("the documented Secret taskrt-tls lacks %s" % f)
        with open(os.path.join(client_dir, f), "w") as out:
            out.write(tls_secret[f])
        os.chmod(os.path.join(client_dir, f), 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKRT_")}
    service = objects.proxy("taskrt-head", objects.services["taskrt-head"]["spec"]["ports"][0])
    address = "127.0.0.1:%d" % service.port
    r = cli(["submit", "echo", "--args", '{"prod":1}', "--address", address, "--tls-dir",
             client_dir, "--wait", "-o", "json"], env)
    out = json.loads(r.stdout)
    if out["state"] != "SUCCEEDED":
        fail("a task through the prod Service: %s" % out)
    nodes = {n["id"]: n["state"] for n in json.loads(
        cli(["nodes", "--db", db.dsn, "-o", "json"], env).stdout)}
    for w in (w1, w2):
        if nodes.get(w.name) != "ALIVE":
            fail("worker pod %s should be ALIVE under its pod name, nodes: %s" % (w.name, nodes))
    ran_on = tasks(env, db.dsn)[0]["node"]
    if ran_on not in (w1.name, w2.name):
        fail("the task should have run on a worker pod, ran on %s" % ran_on)
    log("a task submitted with the client certificate SUCCEEDED on %s; nodes %s"
        % (ran_on, nodes))
    # A worker pod with a certificate that does not allow its pod name is
    # refused: the check the pool certificate passes is real.
    bad = cli(["start", "--address", address, "--node-id", "taskrt-worker-5f7d9-zzzzz",
               "--tls-dir", client_dir, "--tls-name", "client", "--workers", "1"], env,
              check=False)
    if bad.returncode != 1 or "does not allow node id" not in bad.stderr:
        fail("a worker with the client certificate should be refused (exit 1, 'does not "
             "allow node id'), got %d: %s" % (bad.returncode, bad.stderr))
    log("a worker with the client certificate is refused: %s" % bad.stderr.strip())
    for p in (w1, w2, head):
        by_itself, took = p.terminate()
        if not by_itself or p.proc.returncode != 0:
            fail("%s: did not stop cleanly (exit %s)\n%s" % (p.name, p.proc.returncode,
                                                              p.logs()))
    log("prod pods stopped cleanly")


if __name__ == "__main__":
    main()
