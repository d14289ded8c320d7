"""The commands: up, run-test, down.

Guarantees: `up` checks and plans every pod before starting any (and refuses to replace existing containers),
starts the groups in order, waits for each group to be ready within --timeout (else RuntimeError after printing
unready pods' logs), records pods in the state as it goes, and prints {pod: {ip, ready}} as JSON; `run-test` runs
a test Pod/Job to completion (no restarts), prints its logs and returns its exit code (124 on --timeout), and
removes it unless --keep; `down` removes the state's containers, the network and DNS server `up` created, STATE.d
and the state file.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from .docker import Docker
from .fields import Unsupported, check_keys, log
from .pod import Pod
from .state import ip_allocator, load_state, prepare, save_state
from .workloads import select_workloads, workload_pods


def cmd_up(args):
    ns, state = prepare(args)
    allocate = ip_allocator(args)
    groups = select_workloads(ns, args.only)
    planned = [[p for name in group for p in workload_pods(ns, name, args, allocate, state)] for group in groups]
    ns.check_services([(p.labels, p.ports()) for group in planned for p in group])
    for group in planned:
        for pod in group:
            pod.plan()
            for name in pod.containers:
                existing = args.docker.inspect(name, "{{.State.Status}}")
                if existing is not None:
                    raise RuntimeError(f"container {name} already exists ({existing}); run `down` first")
    for group in planned:
        for pod in group:
            log(f"starting {pod.name} at {pod.ip}")
            state["pods"][pod.name] = pod.record(False)
            save_state(args.state, state)
            pod.start()
        deadline = time.time() + args.timeout
        pending = list(group)
        while pending:
            still = []
            for pod in pending:
                status, detail = pod.status()
                if status == "ready":
                    state["pods"][pod.name]["ready"] = True
                    log(f"{pod.name} ready")
                elif status == "failed":
                    save_state(args.state, state)
                    pod.detail = detail
                    fail_with_logs(args, [pod], detail)
                else:
                    pod.detail = detail
                    still.append(pod)
            save_state(args.state, state)
            pending = still
            if pending and time.time() > deadline:
                fail_with_logs(args, pending, f"not ready after {args.timeout} s")
            if pending:
                time.sleep(0.25)
    print(json.dumps({name: {"ip": p["ip"], "ready": p["ready"]} for name, p in state["pods"].items()}))
    return 0


def fail_with_logs(args, pods, detail):
    for pod in pods:
        log(f"{pod.name}: {getattr(pod, 'detail', '') or detail}; last log lines:")
        for c in pod.containers:
            sys.stderr.write(args.docker.logs_tail(c, 40))
    raise RuntimeError(detail)


def cmd_run_test(args):
    ns, state = prepare(args)
    if args.name not in ns.pods:
        raise Unsupported(f"no Pod or Job {args.name} in the manifests (have: {', '.join(ns.pods) or 'none'})")
    doc = ns.pods[args.name]
    if doc["kind"] == "Job":
        spec = doc.get("spec") or {}
        check_keys(spec, f"Job {args.name}.spec", ("template",), ("backoffLimit", "activeDeadlineSeconds",
                                                                  "ttlSecondsAfterFinished", "completions", "parallelism"))
        template = spec["template"]
    else:
        template = {"metadata": {k: v for k, v in (doc.get("metadata") or {}).items() if k in ("labels", "annotations")},
                    "spec": doc.get("spec") or {}}
    allocate = ip_allocator(args)
    args.no_restart = True
    args.print_init_logs = True
    pod = Pod(ns, args.name, doc["kind"], args.name, template, allocate(), args)
    pod.plan(restart_default="Never")
    args.docker.run("rm", "-f", *pod.containers, *pod.init_containers, check=False)
    state["pods"][pod.name] = pod.record(False)
    save_state(args.state, state)
    pod.start()
    try:
        code = int(args.docker.run("wait", pod.containers[0], timeout=args.timeout).stdout.strip())
    except subprocess.TimeoutExpired:
        args.docker.run("kill", pod.containers[0], check=False)
        code = 124
        log(f"{args.name}: no exit after {args.timeout} s")
    logs = args.docker.run("logs", pod.containers[0], check=False)
    sys.stdout.write(logs.stdout)
    sys.stderr.write(logs.stderr)
    log(f"{args.name} exited {code}")
    if not args.keep:
        for c in pod.containers:
            args.docker.run("rm", "-f", c, check=False)
        del state["pods"][pod.name]
        save_state(args.state, state)
    return code


def cmd_down(args):
    docker = Docker(args.docker_binary)
    state = load_state(args.state)
    names = [c for p in state.get("pods", {}).values() for c in reversed(p["containers"])]
    names += [c for p in state.get("pods", {}).values() for c in p.get("init_containers", [])]
    if names:
        docker.run("rm", "-f", *names, check=False)
    created = state.get("created", {})
    if created.get("network"):
        docker.run("network", "rm", created["network"], check=False)
    pid = created.get("dns_pid")
    if pid:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"dns-stub" in f.read():
                    os.kill(pid, signal.SIGTERM)
        except (FileNotFoundError, ProcessLookupError):
            pass
    if state.get("state_dir") and os.path.isdir(state["state_dir"]):
        shutil.rmtree(state["state_dir"], ignore_errors=True)
    if os.path.exists(args.state):
        os.remove(args.state)
    return 0
