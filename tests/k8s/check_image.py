#!/usr/bin/python3
"""k8s/Dockerfile, checked without Docker (no image can be built or pulled
here): read, and its build steps run outside Docker the same way.

- stages: a build stage on debian:bookworm and a runtime stage on
  debian:bookworm-slim; the runtime runs as a non-root numeric USER with
  ENTRYPOINT taskrt;
- every path it COPYs or runs exists in the repository and is not excluded by
  .dockerignore (so it is in the build context);
- k8s/collect-runtime (its last build step) on the real binary yields
  usr/local/bin/taskrt plus every shared library the binary needs, directly
  or through another library, except glibc's (in the base image): each
  DT_NEEDED name (readelf -d) is found in the collected tree.
Usage: check_image.py BUILD/bin/taskrt"""

import os
import re
import subprocess
import sys
import tempfile

from k8s_common import ROOT, fail

GLIBC = re.compile(r"^(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^ ]*)\.so")


def pattern_regex(p):
    """A .dockerignore pattern as Docker reads it: relative to the context
    root, `*` and `?` within one path element, `**` across elements."""
    p = p.strip("/")
    out = ""
    i = 0
    while i < len(p):
        if p.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif p.startswith("**", i):
            out += ".*"
            i += 2
        elif p[i] == "*":
            out += "[^/]*"
            i += 1
        elif p[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(p[i])
            i += 1
    return re.compile(out + "$")


def dockerignored(path, patterns):
    """Whether `path` or a directory above it matches a pattern (no `!`
    exceptions are used in this repository's .dockerignore)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(pattern_regex(p).match(x) for p in patterns for x in prefixes)


def needed(elf):
    out = subprocess.run(["readelf", "-d", elf], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def main():
    binary = sys.argv[1]
    text = open(os.path.join(ROOT, "k8s", "Dockerfile")).read()
    lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    froms = [l.split()[1] for l in lines if l.startswith("FROM ")]
    if len(froms) != 2 or froms[0] != "debian:bookworm" or froms[1] != "debian:bookworm-slim":
        fail("expected FROM debian:bookworm (build) and debian:bookworm-slim (runtime), got %s"
             % froms)
    runtime = text[text.rindex("\nFROM "):]
    user = re.search(r"^USER\s+(\S+)", runtime, re.M)
    if not user or user.group(1).split(":")[0] in ("0", "root") or not user.group(1).split(
            ":")[0].isdigit():
        fail("the runtime stage must run as a numeric non-root USER (runAsNonRoot), got %s"
             % (user.group(1) if user else None))
    if not re.search(r'^ENTRYPOINT \["/usr/local/bin/taskrt"\]', runtime, re.M):
        fail("ENTRYPOINT must be taskrt (the manifests give only args)")
    ignore = [l.strip() for l in open(os.path.join(ROOT, ".dockerignore"))
              if l.strip() and not l.startswith("#")]
    sources = []
    for l in lines:
        m = re.match(r"COPY\s+(?!--from)(\S+)\s+\S+", l)
        if m and m.group(1) != ".":
            sources.append(m.group(1))
    sources += re.findall(r"\b((?:scripts|k8s)/[\w.-]+)", text)
    for s in sorted(set(sources)):
        if not os.path.exists(os.path.join(ROOT, s)):
            fail("the Dockerfile uses %s, which does not exist" % s)
        if dockerignored(s, ignore):
            fail("the Dockerfile uses %s, which .dockerignore excludes" % s)
    for must_ignore in ("build/x", ".git/config", "tls/ca.key"):
        if not dockerignored(must_ignore, ignore):
            fail(".dockerignore should exclude %s" % must_ignore)

    with tempfile.TemporaryDirectory() as dest:
        subprocess.run([os.path.join(ROOT, "k8s", "collect-runtime"), binary, dest],
                       check=True, capture_output=True)
        taskrt = os.path.join(dest, "usr", "local", "bin", "taskrt")
        if not os.access(taskrt, os.X_OK):
            fail("collect-runtime did not place usr/local/bin/taskrt")
        present = {}
        for d, _, files in os.walk(dest):
            for f in files:
                present[f] = os.path.join(d, f)
        todo, seen = [taskrt], set()
        while todo:
            elf = todo.pop()
            for lib in needed(elf):
                if lib in seen or GLIBC.match(lib):
                    continue
                seen.add(lib)
                if lib not in present:
                    fail("%s needs %s, which collect-runtime left out" % (elf, lib))
                todo.append(present[lib])
        print("ok: Dockerfile stages, user, entrypoint and context; runtime tree has taskrt "
              "and all %d libraries it needs beyond glibc" % len(seen))


if __name__ == "__main__":
    main()
