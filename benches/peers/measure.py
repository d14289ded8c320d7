"""Whole-process measurements for the peer benchmarks: wall time and the peak resident memory of the process
*tree* (a PySpark driver's JVM, a Strata cluster's processes), sampled from /proc every 20 ms, with the kernel's
own peak of the direct child (wait4) as a floor."""
import os
import subprocess
import threading
import time


def _tree_rss(roots):
    """Sum of VmRSS (bytes) of the `roots` and all their descendants."""
    children = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, list(roots)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(cmd, env=None, cwd=None, log=None, also=()):
    """Run `cmd`; return (wall seconds, peak RSS of its process tree in MiB, plus the trees of the pids in `also`:
    a cluster's scheduler and executors). Fails if it fails."""
    start = time.monotonic()
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=out if log else None)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss([proc.pid, *also]))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    done.set()
    sampler.join()
    if log:
        out.close()
    if status != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed with status {status}" + (f"; see {log}" if log else ""))
    return wall, max(peak[0], usage.ru_maxrss * 1024) / 2**20
