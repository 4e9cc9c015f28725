#!/usr/bin/python3
"""Runs the command blocks of the documentation as a newcomer would.

Every ```sh block of README.md, docs/*.md and examples/user_project/README.md
runs as written, with bash, from
the root of the checkout, in an empty HOME (`env -i`: only HOME, PATH with the
build's bin/ first, LANG, USER), against the real binaries: a head the docs
start, with the embedded Postgres the docs use. The blocks of one file run in
order and share that HOME (as one user's terminals do), so a later block sees
what an earlier one started or wrote. A block passes when it exits 0 (or the
`exit=N` it declares) and its output holds each `expect="TEXT"` it declares.

A block that cannot run here says so in an HTML comment on the line(s) just
before it, with the reason, and is listed as skipped:

    <!-- not-run: needs a Kubernetes cluster -->

Other directives, in a comment `<!-- doc-test: ... -->` just before a block:
  expect="TEXT"   the block's output (stdout and stderr) must contain TEXT
                  (repeatable)
  exit=N          the exit status the block must end with (default 0)
  background      the block is a terminal left open (`app start --head`
                  in the foreground): it runs in the background and the
                  next block starts once its output matches `ready`
  ready="REGEX"   what a background command prints once it serves (default:
                  a head listening, a node registered, `up` done)
  timeout=S       seconds the block may take (default 300)
  same-as=PATH    (any language) the block is the file PATH of the checkout,
                  verbatim: a program the docs quote stays the one that builds
  interrupt-background
                  first, Ctrl-C in the terminal opened last: SIGINT to the
                  latest background block, which must exit within 60 s
  new-home        from this block on, another empty HOME (the processes of
                  the previous one are stopped first)

A command line ending in `&` runs in the background as the shell would run
it; the harness waits until its output matches the ready pattern (or it
exits) before the next line, as a reader waits for the banner. At the end of
each file everything started from its HOME is stopped: clusters of `up` with
`down`, then the processes whose environment has that HOME (SIGTERM, then
SIGKILL after 15 s), then the embedded Postgres servers under it.

usage: run_doc_blocks.py TASKRT_BIN [--list] [FILE.md ...]
"""

import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_READY = r"listening on|node \S+ registered|standing by|cluster up in"
STARTED = time.monotonic()


def log(msg):
    print("[%6.1f s] %s" % (time.monotonic() - STARTED, msg), flush=True)


class block:
    def __init__(self, path, line, text, directives):
        self.path = path
        self.line = line  # of the opening fence, 1-based
        self.text = text
        self.skip = None
        self.expect = []
        self.exit = 0
        self.background = False
        self.ready = DEFAULT_READY
        self.timeout = 300
        self.interrupt = False
        self.new_home = False
        self.same_as = None
        for d in directives:
            if d.startswith("not-run:"):
                self.skip = d[len("not-run:"):].strip()
                if not self.skip:
                    raise SystemExit("%s: a not-run comment needs a reason" % self.where())
            elif d.startswith("doc-test:"):
                for word in shlex.split(d[len("doc-test:"):]):
                    key, _, value = word.partition("=")
                    if key == "expect":
                        self.expect.append(value)
                    elif key == "exit":
                        self.exit = int(value)
                    elif key == "background":
                        self.background = True
                    elif key == "ready":
                        self.ready = value
                    elif key == "interrupt-background":
                        self.interrupt = True
                    elif key == "same-as":
                        self.same_as = value
                    elif key == "new-home":
                        self.new_home = True
                    elif key == "timeout":
                        self.timeout = float(value)
                    else:
                        raise SystemExit("%s: unknown doc-test directive %r"
                                         % (self.where(), key))

    def where(self):
        return "%s:%d" % (os.path.relpath(self.path, ROOT), self.line)


def parse(path):
    """The ```sh blocks of a markdown file, with the directives above each."""
    lines = open(path).read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        start = i
        i += 1
        body = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        directives = []
        j = start - 1
        while j >= 0 and lines[j].strip().startswith("<!--") and lines[j].strip().endswith("-->"):
            directives.insert(0, lines[j].strip()[4:-3].strip())
            j -= 1
        b = block(path, start + 1, "\n".join(body), directives)
        if lang == "sh":
            out.append(b)
        elif b.same_as:
            QUOTES.append(b)
    return out


QUOTES = []  # blocks of other languages that quote a file (same-as=PATH)


def check_quotes():
    """Failures of the same-as blocks: each must be its file, verbatim."""
    bad = []
    for b in QUOTES:
        path = os.path.join(ROOT, b.same_as)
        text = open(path).read().rstrip("\n") if os.path.exists(path) else None
        if text != b.text.rstrip("\n"):
            bad.append("%s: not the same as %s" % (b.where(), b.same_as))
    return bad


def code_and_comment(line):
    """Splits a shell line at its comment (a # outside quotes after a blank)."""
    quote = None
    for k, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                continue
        elif c in "'\"":
            quote = c
        elif c == "#" and (k == 0 or line[k - 1] in " \t"):
            return line[:k].rstrip(), line[k:]
    return line.rstrip(), ""


PRELUDE = r'''
set -e
__doc_ready() { # LOG PID REGEX: wait until LOG matches REGEX, or PID exits
  local i
  for i in $(seq 1 1800); do
    if grep -Eq -- "$3" "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "doc-test: the background command exited before it was ready; its output:" >&2
      tail -n 30 "$1" >&2; return 1
    fi
    sleep 0.1
  done
  echo "doc-test: the background command was not ready after 180 s; its output:" >&2
  tail -n 30 "$1" >&2; return 1
}
'''


def script_of(b, bg_dir):
    """The block as bash runs it: continuation lines joined, each command
    that ends in `&` followed by a wait for its readiness."""
    logical, cur = [], ""
    for line in b.text.split("\n"):
        code, _ = code_and_comment(line)
        if code.endswith("\\"):
            cur += code[:-1] + " "
            continue
        logical.append(cur + line if not cur else cur + code)
        cur = ""
    if cur:
        logical.append(cur)
    out = []
    for n, line in enumerate(logical):
        code, _ = code_and_comment(line)
        if re.search(r"(?<!&)&$", code):
            cmd = code[:-1].rstrip()
            logf = os.path.join(bg_dir, "bg-%d-%d.log" % (b.line, n))
            out.append("( %s ) >%s 2>&1 &" % (cmd, shlex.quote(logf)))
            out.append("__doc_ready %s $! %s" % (shlex.quote(logf), shlex.quote(b.ready)))
        else:
            out.append(line)
    return PRELUDE + "\n".join(out) + "\n"


def find_files(top, name):
    """Paths of the files called `name` under top, hidden directories too."""
    return [os.path.join(d, name) for d, _, files in os.walk(top) if name in files]


def pids_with_home(home):
    """Processes whose environment has HOME=home (ours: readable)."""
    found = []
    needle = ("HOME=" + home).encode() + b"\0"
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if (b"\0" + env).find(b"\0" + needle) >= 0:
            found.append((int(d), comm))
    return found


class session:
    """One documentation file: an empty HOME shared by its blocks."""

    def __init__(self, bin_dir):
        self.home = tempfile.mkdtemp(prefix="taskrt-doc-home.")
        os.chmod(self.home, 0o700)
        self.bg_dir = tempfile.mkdtemp(prefix="taskrt-doc-bg.")
        self.env = {
            "HOME": self.home,
            "PATH": bin_dir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "USER": os.environ.get("USER", "root"),
            "LOGNAME": os.environ.get("USER", "root"),
            "TERM": "dumb",
        }
        self.background = []

    def interrupt(self):
        """Ctrl-C in the terminal opened last: SIGINT to its process group."""
        if not self.background:
            return "interrupt-background: no background block runs"
        p = self.background.pop()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.background.append(p)
            return "the background block did not exit within 60 s of SIGINT"
        return None

    def run(self, b):
        if b.interrupt:
            err = self.interrupt()
            if err:
                return False, err, ""
        script = script_of(b, self.bg_dir)
        outf = os.path.join(self.bg_dir, "block-%d.out" % b.line)
        t0 = time.monotonic()
        with open(outf, "w") as out:
            p = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=self.env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
            if b.background:
                self.background.append(p)
                deadline = time.monotonic() + b.timeout
                while time.monotonic() < deadline:
                    text = open(outf).read()
                    if re.search(b.ready, text):
                        return True, "running in the background (ready after %.1f s)" % (
                            time.monotonic() - t0), text
                    if p.poll() is not None:
                        return False, "exited %d before it was ready" % p.returncode, text
                    time.sleep(0.1)
                return False, "not ready after %.0f s" % b.timeout, open(outf).read()
            try:
                rc = p.wait(timeout=b.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return False, "did not finish within %.0f s" % b.timeout, open(outf).read()
        text = open(outf).read()
        # What its background commands printed so far is its output too.
        for bg in sorted(glob.glob(os.path.join(self.bg_dir, "bg-%d-*.log" % b.line))):
            text += open(bg).read()
        took = time.monotonic() - t0
        if rc != b.exit:
            return False, "exited %d (expected %d) after %.1f s" % (rc, b.exit, took), text
        missing = [e for e in b.expect if e not in text]
        if missing:
            return False, "output lacks %s" % ", ".join(repr(m) for m in missing), text
        return True, "%.1f s" % took, text

    def close(self, taskrt):
        # Clusters of `taskrt up`, as the docs stop them.
        for rec in find_files(self.home, "cluster.json"):
            subprocess.run([taskrt, "down", "--data-dir", os.path.dirname(rec), "--timeout", "20"],
                           env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=120)
        # Everything else started from this HOME but Postgres: SIGTERM (a
        # head or node drains), then SIGKILL.
        procs = [(pid, comm) for pid, comm in pids_with_home(self.home)
                 if comm not in ("postgres", "postmaster")]
        for pid, _ in procs:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p)
                                                  for p, _ in procs):
            time.sleep(0.2)
        for pid, comm in pids_with_home(self.home):
            if comm not in ("postgres", "postmaster"):
                log("  SIGKILL to %s (pid %d), still running 15 s after SIGTERM" % (comm, pid))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for p in self.background:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        # The embedded Postgres servers under HOME.
        for pid_file in find_files(self.home, "postmaster.pid"):
            pg_dir = os.path.dirname(os.path.dirname(pid_file))
            subprocess.run([os.path.join(ROOT, "scripts", "pg"), "stop", pg_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        for pid, comm in pids_with_home(self.home):
            log("  SIGKILL to %s (pid %d), left behind" % (comm, pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # A Postgres server whose data dir is under HOME that scripts/pg did
        # not stop: immediate shutdown (SIGQUIT to the postmaster).
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if " -D " + self.home + "/" in cmd:
                log("  SIGQUIT to Postgres (pid %s), left behind" % d)
                try:
                    os.kill(int(d), signal.SIGQUIT)
                except OSError:
                    pass
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.bg_dir, ignore_errors=True)


def port_in_use(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        raise SystemExit(__doc__)
    taskrt = os.path.abspath(args[0])
    files = [os.path.abspath(f) for f in args[1:]] or (
        [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
        + [os.path.join(ROOT, "examples", "user_project", "README.md")])
    blocks = {f: parse(f) for f in files}
    if "--list" in sys.argv:
        for f, bs in blocks.items():
            for b in bs:
                print("%s %s" % (b.where(), "skip: " + b.skip if b.skip else "run"))
        return 0
    # The docs write build/bin/taskrt and scripts/build: they test this
    # checkout's build, nothing else.
    if os.path.realpath(taskrt) != os.path.realpath(os.path.join(ROOT, "build", "bin", "taskrt")):
        print("SKIPPED: the docs use build/bin/taskrt of the checkout; %s is another build"
              % taskrt)
        return 0
    if port_in_use(7400):
        print("FAIL: 127.0.0.1:7400 is in use; the docs' commands use the default cluster port")
        return 1
    ran, skipped, failed = 0, [], []
    for problem in check_quotes():
        log("  FAIL %s" % problem)
        failed.append(problem.split(":")[0] + ":" + problem.split(":")[1])
    log("%d quoted file(s) checked" % len(QUOTES))
    for f, bs in blocks.items():
        if all(b.skip for b in bs):
            skipped += [(b.where(), b.skip) for b in bs]
            continue
        log("%s: %d block(s)" % (os.path.relpath(f, ROOT), len(bs)))
        s = session(os.path.dirname(taskrt))
        try:
            for b in bs:
                if b.skip:
                    skipped.append((b.where(), b.skip))
                    continue
                if b.new_home:
                    s.close(taskrt)
                    s = session(os.path.dirname(taskrt))
                ok, what, text = s.run(b)
                ran += 1
                if ok:
                    log("  ok   %s (%s)" % (b.where(), what))
                    continue
                failed.append(b.where())
                log("  FAIL %s: %s\n--- the block:\n%s\n--- its output (last 40 lines):\n%s"
                    % (b.where(), what, b.text, "\n".join(text.rstrip().split("\n")[-40:])))
                break  # later blocks of the file build on this one
        finally:
            s.close(taskrt)
    log("skipped (not runnable here):")
    for where, why in skipped:
        log("  %s: %s" % (where, why))
    log("%d block(s) ran, %d failed, %d skipped" % (ran, len(failed), len(skipped)))
    if failed:
        log("FAILED: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
