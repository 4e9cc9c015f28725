#!/usr/bin/python3
"""Latency of the HTTP API's submit and of its event feed, against a running head.

    bench/api_feed_latency.py http://127.0.0.1:PORT TOKEN [N]

Opens GET /api/v1/events?state=QUEUED, then submits N (default 40) `echo`
tasks one after another through POST /api/v1/tasks (50 ms apart) and prints
the submit's answer time and the time from its 201 to the task's QUEUED
event on the feed (p50, p90, max). The token needs the operator role
(taskrt tokens add NAME --role operator). Loopback or a network of your own.
"""
import json
import socket
import sys
import threading
import time
import urllib.request

url, tok = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
host, port = url.split("//")[1].split(":")
s = socket.create_connection((host, int(port)))
s.sendall(("GET /api/v1/events?state=QUEUED HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
           % tok).encode())
seen = {}


def reader():
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return
        buf += d
        while b"\n\n" in buf:
            blk, buf = buf.split(b"\n\n", 1)
            for line in blk.split(b"\n"):
                if line.startswith(b"data: "):
                    seen[json.loads(line[6:])["task_id"]] = time.monotonic()


threading.Thread(target=reader, daemon=True).start()
time.sleep(1)
lat = []
for i in range(n):
    req = urllib.request.Request(url + "/api/v1/tasks",
                                 data=json.dumps({"name": "echo", "args": {"i": i}}).encode(),
                                 headers={"Authorization": "Bearer " + tok,
                                          "Content-Type": "application/json"})
    t0 = time.monotonic()
    tid = json.load(urllib.request.urlopen(req))["id"]
    t1 = time.monotonic()
    for _ in range(600):  # bounded: 3 s
        if tid in seen:
            break
        time.sleep(0.005)
    lat.append(((t1 - t0) * 1000, (seen.get(tid, float("nan")) - t1) * 1000))
    time.sleep(0.05)
sub = sorted(a for a, _ in lat)
ev = sorted(b for _, b in lat)
print("POST /api/v1/tasks: p50 %.1f ms max %.1f ms; 201 answer -> QUEUED event on the feed: "
      "p50 %.1f ms p90 %.1f ms max %.1f ms (n=%d)"
      % (sub[len(sub) // 2], sub[-1], ev[len(ev) // 2], ev[int(len(ev) * 0.9)], ev[-1], len(ev)))
