#!/usr/bin/python3
"""deploy/systemd run locally, as docs/deploy.md sets it up: what systemd
would start on a head machine and a node machine, started here as processes.

From docs/deploy.md, section "Plain machines with systemd", as written:
  - the certificates: its `taskrt certs generate ./tls ...` is run (./tls is a
    temporary directory), and each machine's /etc/taskrt/tls gets the files
    its comment lists for that machine (`# head machine: ...`, `# node
    machine N: ...` with N = 1);
  - /etc/taskrt/head.env and node.env: the text its `printf '...' | sudo tee`
    lines write (the DSN placeholder becomes a fresh schema of
    TASKRT_TEST_DSN, the head's address 10.0.0.5:7400 the local head);
  - /etc/taskrt/taskrt.ini: deploy/systemd/taskrt.ini.
Each unit's ExecStart is expanded as systemd does: Environment= first, then
EnvironmentFile= over it, `${VAR}` as one word, `$VAR` split at blanks, `%H`
the host name. Only what the machine provides is substituted: /etc/taskrt
and /var/lib/taskrt are directories of the machine here, the binary is the
build's, 0.0.0.0 becomes 127.0.0.1 and the ports 7400/9090 free ones (both
machines share this host's loopback).

Then, as an operator would:
  1. the head turns ready (/readyz 200);
  2. the node turns ready: it registered under the node id of node.env with
     the certificate of that name;
  3. the CLI on the head machine, as the docs run it (`TASKRT_DATA_DIR=
     /var/lib/taskrt taskrt status`, then `nodes` and a submit), finds the
     head through the state file alone: status exits 0, node-1 is ALIVE, a
     task runs on node-1;
  4. `systemctl stop` (SIGTERM) stops node and head within TimeoutStopSec,
     exit 0, and the journal shows both LEFT (not ALIVE).
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from local_pods_test import ROOT, WORK, database, fail, free_port, log, run  # noqa: E402

TASKRT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(
    ROOT, "build", "bin", "taskrt")
HOSTNAME = socket.gethostname()


def systemd_section():
    text = open(os.path.join(ROOT, "docs", "deploy.md")).read()
    return text[text.index("## Plain machines with systemd"):
                text.index("## Mutual TLS and short-lived clients")]


def documented_machines(section):
    """certs command, {machine: [files]}, {env file: text} from the docs."""
    gen = next(l for l in section.split("\n") if l.startswith("taskrt certs generate ./tls"))
    files = {}
    for m in re.finditer(r"^# (head machine|node machine N):\s+(.*?)\s+->", section, re.M):
        files["head" if m.group(1).startswith("head") else "node"] = \
            m.group(2).replace("node-N", "node-1").split()
    envs = {}
    for m in re.finditer(r"^printf '(.*?)' \| sudo tee /etc/taskrt/(\S+)", section, re.M):
        envs[m.group(2)] = m.group(1).encode().decode("unicode_escape")
    for need in ("head.env", "node.env"):
        if need not in envs:
            fail("docs/deploy.md: no `printf ... | sudo tee /etc/taskrt/%s`" % need)
    if set(files) != {"head", "node"}:
        fail("docs/deploy.md: the certificate comment lines for the head and node machines")
    return gen, files, envs


def json_out(text):
    """The JSON a CLI command printed on stdout. The keys are 0640 as the docs
    install them, so the CLI warns (on stderr: stdout stays JSON)."""
    return json.loads(text)


def env_file(text):
    out = {}
    for line in text.split("\n"):
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


class machine:
    def __init__(self, name):
        self.root = os.path.join(WORK, name)
        os.makedirs(self.root + "/etc/taskrt/tls")
        os.makedirs(self.root + "/var/lib/taskrt", mode=0o700)
        self.http_port = free_port()

    def path(self, p):
        for prefix in ("/etc/taskrt", "/var/lib/taskrt"):
            if p == prefix or p.startswith(prefix + "/"):
                return self.root + p
        return p

    def install_ini(self, cluster_port):
        ini = open(os.path.join(ROOT, "deploy", "systemd", "taskrt.ini")).read()
        ini = re.sub(r"(?m)^(host|http-host) = 0\.0\.0\.0$", r"\1 = 127.0.0.1", ini)
        ini = re.sub(r"(?m)^port = 7400$", "port = %d" % cluster_port, ini)
        ini = re.sub(r"(?m)^http-port = 9090$", "http-port = %d" % self.http_port, ini)
        ini = re.sub(r"(?m)^tls-dir = (\S+)$", lambda m: "tls-dir = " + self.path(m.group(1)), ini)
        with open(self.root + "/etc/taskrt/taskrt.ini", "w") as f:
            f.write(ini)

    def start_unit(self, unit):
        """The unit's ExecStart, expanded as systemd does, started."""
        text = open(os.path.join(ROOT, "deploy", "systemd", unit)).read()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin",
               "HOME": self.root + "/var/lib/taskrt"}  # User=taskrt's home
        exec_start = None
        for line in text.split("\n"):
            line = line.replace("%H", HOSTNAME)
            if line.startswith("Environment="):
                for word in shlex.split(line[len("Environment="):]):
                    k, _, v = word.partition("=")
                    env[k] = v
            elif line.startswith("EnvironmentFile="):
                env.update(env_file(open(self.path(line[len("EnvironmentFile="):])).read()))
            elif line.startswith("ExecStart="):
                exec_start = line[len("ExecStart="):]
        argv = []
        for word in exec_start.split():
            m = re.fullmatch(r"\$\{(\w+)\}", word)
            if m:
                argv.append(env.get(m.group(1), ""))
            elif re.fullmatch(r"\$(\w+)", word):
                argv += env.get(word[1:], "").split()
            else:
                argv.append(self.path(word))
        if argv[0] != "/usr/local/bin/taskrt":
            fail("%s: ExecStart runs %s, not /usr/local/bin/taskrt" % (unit, argv[0]))
        argv[0] = TASKRT
        self.log = open(os.path.join(self.root, unit + ".log"), "w")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log("%s: pid %d: %s" % (unit, self.proc.pid, " ".join(argv[1:])))
        self.unit = unit
        self.timeout_stop = int(re.search(r"(?m)^TimeoutStopSec=(\d+)", text).group(1))

    def logs(self):
        return open(os.path.join(self.root, self.unit + ".log")).read()[-4000:]

    def wait_ready(self, limit_s=90):
        url = "http://127.0.0.1:%d/readyz" % self.http_port
        deadline = time.monotonic() + limit_s
        while True:
            try:
                with urllib.request.urlopen(url, timeout=3) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.proc.poll() is not None:
                fail("%s exited %d before it was ready:\n%s" % (self.unit, self.proc.returncode,
                                                                 self.logs()))
            if time.monotonic() > deadline:
                fail("%s not ready within %d s:\n%s" % (self.unit, limit_s, self.logs()))
            time.sleep(0.3)

    def stop(self):
        """systemctl stop: SIGTERM (KillMode=mixed: to the main process),
        SIGKILL after TimeoutStopSec."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=self.timeout_stop)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            fail("%s did not stop within TimeoutStopSec=%d s:\n%s" % (self.unit,
                                                                     self.timeout_stop,
                                                                     self.logs()))


def main():
    db = database()
    machines = []
    try:
        test(db, machines)
    finally:
        for m in machines:
            if getattr(m, "proc", None) and m.proc.poll() is None:
                os.killpg(m.proc.pid, signal.SIGKILL)
                m.proc.wait()
        db.close()
    shutil.rmtree(WORK, ignore_errors=True)
    log("ok")


def test(db, machines):
    gen, files, envs = documented_machines(systemd_section())
    admin_tls = os.path.join(WORK, "admin-tls")
    argv = shlex.split(gen.split("#")[0])
    run([TASKRT] + [admin_tls if a == "./tls" else a for a in argv[1:]])
    log("certificates as docs/deploy.md makes them: %s" % gen)
    cluster_port = free_port()
    head, node = machine("head-machine"), machine("node-machine")
    machines += [head, node]
    for m, role in ((head, "head"), (node, "node")):
        for f in files[role]:
            dst = m.root + "/etc/taskrt/tls/" + f
            with open(os.path.join(admin_tls, f)) as src, open(dst, "w") as out:
                out.write(src.read())
            os.chmod(dst, 0o640 if f.endswith(".key") else 0o644)
        m.install_ini(cluster_port)
    head_env = re.sub(r"postgresql://\S+", db.dsn.replace("\\", "\\\\"), envs["head.env"])
    with open(head.root + "/etc/taskrt/head.env", "w") as f:
        f.write(head_env)
    with open(node.root + "/etc/taskrt/node.env", "w") as f:
        f.write(envs["node.env"].replace("10.0.0.5:7400", "127.0.0.1:%d" % cluster_port))
    node_id = env_file(envs["node.env"]).get("TASKRT_NODE_ID", HOSTNAME)

    # 1, 2: the units start; the node registers with its certificate.
    head.start_unit("taskrt-head.service")
    head.wait_ready()
    log("head ready")
    node.start_unit("taskrt-node.service")
    node.wait_ready()
    log("node ready: registered as %s" % node_id)

    # 3. The CLI on the head machine, as the docs run it.
    cli_env = {"PATH": "/usr/bin:/bin", "HOME": os.path.join(WORK, "admin-home"),
               "TASKRT_DATA_DIR": head.root + "/var/lib/taskrt"}
    os.makedirs(cli_env["HOME"])
    st = subprocess.run([TASKRT, "status"], env=cli_env, capture_output=True, text=True,
                        timeout=60)
    if st.returncode != 0:
        fail("`TASKRT_DATA_DIR=/var/lib/taskrt taskrt status` on the head machine exited %d:"
             "\n%s%s" % (st.returncode, st.stdout, st.stderr))
    nodes = {n["id"]: n["state"] for n in json_out(
        run([TASKRT, "nodes", "-o", "json"], env=cli_env).stdout)}
    if nodes.get(node_id) != "ALIVE":
        fail("node %s should be ALIVE: %s" % (node_id, nodes))
    sub = run([TASKRT, "submit", "echo", "--args", '{"systemd":1}', "--wait", "-o", "json"],
              env=cli_env).stdout
    try:
        out = json_out(sub)
    except ValueError:
        fail("submit -o json printed %r" % sub)
    if out["state"] != "SUCCEEDED":
        fail("a task submitted on the head machine: %s" % out)
    ran_on = json_out(run([TASKRT, "tasks", "list", "-o", "json"], env=cli_env).stdout)[0]
    if ran_on["node"] != node_id:
        fail("the task should have run on %s: %s" % (node_id, ran_on))
    log("CLI through the state file: status 0, %s ALIVE, a task SUCCEEDED on it" % node_id)

    # 4. systemctl stop, node first, then the head.
    for m in (node, head):
        rc = m.stop()
        if rc != 0:
            fail("%s exited %d on SIGTERM:\n%s" % (m.unit, rc, m.logs()))
    rows = json.loads(run([TASKRT, "nodes", "--db", db.dsn, "-o", "json"], env=cli_env).stdout)
    states = {n["id"]: n["state"] for n in rows}
    if states.get(node_id) != "LEFT" or any(s == "ALIVE" for s in states.values()):
        fail("after systemctl stop every node should be LEFT: %s" % states)
    log("stopped: exit 0; nodes %s" % states)


if __name__ == "__main__":
    main()
