#!/usr/bin/env python3
"""Run rendered Kubernetes manifests (`helm template` output) as Docker containers: no API server needed.

    python3 dev/kube_play.py up --manifests rendered.yaml --network strata-test --subnet 10.214.0.0/24 \\
        --image-map strata:0.1.0=strata:test --secrets-dir DIR --state STATE.json [--only scheduler,executor]
    python3 dev/kube_play.py run-test --manifests rendered.yaml --name r-strata-test ... --state STATE.json
    python3 dev/kube_play.py down --state STATE.json
    python3 dev/kube_play.py dns-stub --bind 10.214.0.1 [--detach]  # the NXDOMAIN server `up` starts (see below)

A pod is one container per pod container (the first is named after the pod, e.g. `r-strata-executor-1`; any
other `<pod>-<container>` shares its network namespace), on a user-defined bridge network (dev/docker.sh's
strata_docker_network) with a static IP from --subnet. What is emulated, as Kubernetes does it:
- Deployments (replicas, default 1: pods `<name>-0..N-1`) and StatefulSets (pods `<name>-<i>`, their DNS names
  under spec.serviceName, volumeClaimTemplates as per-pod directories); helm test Pods/Jobs with `run-test`.
- command/args exactly as rendered (command replaces the image's ENTRYPOINT, args its CMD), with `$(VAR)`
  expansion (`$$` escapes; unknown references stay as written); env, env `$(VAR)` references to earlier entries,
  envFrom (configMapRef/secretRef, prefix), valueFrom configMapKeyRef/secretKeyRef (optional honoured),
  fieldRef (metadata.name/namespace/uid/labels/annotations, status.podIP/podIPs/hostIP, spec.nodeName,
  spec.serviceAccountName), resourceFieldRef (limits/requests.cpu/memory, divisor).
- Services: every Service whose selector matches a pod's labels gives the pod the network aliases svc, svc.NS,
  svc.NS.svc, svc.NS.svc.cluster.local (Docker's embedded DNS answers them with every matching pod's IP, like a
  headless Service). A Service port must equal its targetPort: Docker cannot remap ports, so a Service that
  does is refused.
- DNS: search path NS.svc.cluster.local svc.cluster.local cluster.local, ndots:5. Docker's embedded DNS forwards
  names it does not know upstream, and nothing upstream is reachable from the network, so every miss would cost
  a 10 s+ timeout; `up` therefore starts (once per gateway) a tiny server on GATEWAY:53 that answers NXDOMAIN
  to everything, as a cluster's DNS answers for names that do not exist, and gives containers `--dns GATEWAY`.
- securityContext (pod and container): runAsUser/runAsGroup -> --user, runAsNonRoot (checked as the kubelet
  does), fsGroup and supplementalGroups -> --group-add (and the group of volumes), readOnlyRootFilesystem ->
  --read-only, allowPrivilegeEscalation: false -> no-new-privileges, capabilities drop/add, privileged,
  seccompProfile RuntimeDefault (Docker's default profile) or Unconfined.
- resources.limits memory -> --memory (and --memory-swap, no swap), cpu -> --cpus. Requests are scheduling only.
- volumes: emptyDir -> a host directory per pod (disk-backed, like the kubelet's; shared by the pod's containers,
  init containers included; mode 0777, or group fsGroup with setgid), or with medium: Memory or
  --emptydir=tmpfs a tmpfs of sizeLimit (one per container, not shared within the pod; its pages count against
  the container's memory limit);
  configMap/secret/projected(configMap, secret) -> files written to a host directory and bind-mounted read-only
  (items, defaultMode, per-item mode, optional, subPath); persistentVolumeClaim -> a host directory per claim.
- initContainers run first, one at a time, to completion (with the pod's IP and hostname, without the Service
  aliases); a failure fails `up` with its logs.
- restartPolicy Always (Deployments, StatefulSets) -> --restart unless-stopped, OnFailure -> on-failure, Never
  -> no. A crash (its process killed: kill -9 "$(docker inspect -f '{{.State.Pid}}' NAME)") restarts the
  container with the same IP, as the kubelet restarts a container in place; `docker stop` and `docker kill` are
  manual stops that Docker never restarts: the pod is gone.
- terminationGracePeriodSeconds -> --stop-timeout (default 30, as Kubernetes).
- Readiness: the readinessProbe (httpGet from the host to the pod IP, tcpSocket, or exec via `docker exec`) is
  polled after start; without one a running container is ready. `up` starts the --only groups in the order
  given, waits until every pod of a group is ready before starting the next, and fails after --timeout seconds
  printing the logs of unready pods.
Not emulated: Service aliases resolve as soon as a container starts (Kubernetes publishes only ready pods) and
stay when it turns unready; liveness and startup probes restart nothing; emptyDir sizeLimit is enforced only on
tmpfs, ephemeral-storage limits never; NetworkPolicies are not enforced (a note says so); service-link env vars
are not injected. Anything else in a pod spec that this runner does not know fails loudly, apart from an explicit
ignore list (scheduling, service accounts, probe timings, image pull settings).

State (--state STATE.json, and STATE.d/ for volumes): pods with their containers, IP, ports by name, aliases,
labels and readiness; `down` removes the containers, STATE.d and what `up` created (network, DNS server).
Containers carry the label strata.test=1 and the pod template's labels.
"""
import argparse
import base64
import ipaddress
import json
import math
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:  # Use (and complete) the repo's venv: dev/python.sh's.
    venv = os.environ.get("STRATA_VENV", os.path.expanduser("~/.cache/strata/venv"))
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.executable) == os.path.realpath(python):
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"], check=True)
    elif not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if subprocess.run([python, "-c", "import yaml"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "pyyaml"], check=True)
    os.execv(python, [python] + sys.argv)


class Unsupported(Exception):
    """A manifest asks for something this runner cannot emulate faithfully."""


def log(msg):
    print(f"kube_play: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Manifest checks: every field is either handled, explicitly ignored, or an error.

def check_keys(obj, path, handled, ignored=()):
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise Unsupported(f"{path}: expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(handled) - set(ignored))
    if unknown:
        raise Unsupported(f"{path}: unsupported field(s) {', '.join(unknown)}")


def parse_quantity(q):
    """A Kubernetes resource quantity as a float (bytes, cores...)."""
    s = str(q).strip()
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    for suffix in sorted(suffixes, key=len, reverse=True):
        if s.endswith(suffix) and s[: -len(suffix)].replace(".", "", 1).lstrip("+-").isdigit():
            return float(s[: -len(suffix)]) * suffixes[suffix]
    try:
        return float(s)
    except ValueError:
        raise Unsupported(f"bad quantity {q!r}") from None


def expand(text, env):
    """Kubernetes' $(VAR) expansion: $$ is $, $(NAME) is env[NAME] when defined and stays as written otherwise."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                j = text.find(")", i + 2)
                if j == -1:
                    out.append(text[i:])
                    break
                name = text[i + 2 : j]
                out.append(env[name] if name in env else text[i : j + 1])
                i = j + 1
                continue
            out.append(c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------------
# The "namespace": ConfigMaps, Secrets, Services, workloads.

IGNORED_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "Ingress", "ServiceMonitor", "PodMonitor", "PrometheusRule",
                 "PersistentVolumeClaim", "NetworkPolicy", "Namespace", "LimitRange", "ResourceQuota"}


class Namespace:
    def __init__(self, docs, secrets_dir, namespace):
        self.namespace = namespace
        self.configmaps, self.secrets, self.services, self.workloads, self.pods = {}, {}, {}, {}, {}
        self.notes = []
        for doc in docs:
            if not doc:
                continue
            kind, meta = doc.get("kind"), doc.get("metadata") or {}
            name = meta.get("name")
            ns = meta.get("namespace")
            if ns and self.namespace is None:
                self.namespace = ns
            if ns and ns != self.namespace:
                raise Unsupported(f"{kind} {name}: namespace {ns}, but the others are in {self.namespace}")
            if kind == "ConfigMap":
                data = dict(doc.get("data") or {})
                for k, v in (doc.get("binaryData") or {}).items():
                    data[k] = base64.b64decode(v)
                self.configmaps[name] = data
            elif kind == "Secret":
                data = {k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()}
                data.update({k: v.encode() for k, v in (doc.get("stringData") or {}).items()})
                self.secrets[name] = data
            elif kind == "Service":
                self.services[name] = doc
            elif kind in ("Deployment", "StatefulSet"):
                self.workloads[name] = doc
            elif kind in ("Pod", "Job"):
                self.pods[name] = doc
                if "helm.sh/hook" not in (meta.get("annotations") or {}):
                    self.notes.append(f"{kind} {name} is not a hook; `up` does not start it (run-test does)")
            elif kind in IGNORED_KINDS:
                self.notes.append(f"{kind} {name} is not emulated")
            else:
                raise Unsupported(f"{kind} {name}: kind not supported")
        self.namespace = self.namespace or "default"
        # Secrets the chart references but does not render: one directory per Secret, one file per key (bytes as
        # they are: no trailing newline is stripped, as Kubernetes strips none).
        if secrets_dir:
            for entry in sorted(os.listdir(secrets_dir)):
                d = os.path.join(secrets_dir, entry)
                if os.path.isdir(d):
                    data = self.secrets.setdefault(entry, {})
                    for key in sorted(os.listdir(d)):
                        if os.path.isfile(os.path.join(d, key)):
                            with open(os.path.join(d, key), "rb") as f:
                                data[key] = f.read()

    def lookup(self, kind, name, key, optional, where):
        store = self.configmaps if kind == "configMap" else self.secrets
        if name not in store:
            if optional:
                return None
            raise Unsupported(f"{where}: {kind} {name} does not exist (secrets come from --secrets-dir/{name}/KEY)")
        if key not in store[name]:
            if optional:
                return None
            raise Unsupported(f"{where}: {kind} {name} has no key {key}")
        value = store[name][key]
        return value.decode() if isinstance(value, bytes) else str(value)

    def service_aliases(self, labels, pod_name, statefulset_service):
        aliases, ns = [], self.namespace
        def names(base):
            return [base, f"{base}.{ns}", f"{base}.{ns}.svc", f"{base}.{ns}.svc.cluster.local"]
        for svc_name, svc in sorted(self.services.items()):
            spec = svc.get("spec") or {}
            selector = spec.get("selector") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                aliases += names(svc_name)
                if svc_name == statefulset_service:
                    aliases += names(f"{pod_name}.{svc_name}")
        return aliases

    def check_services(self, pods_by_labels):
        """Service ports must not remap (Docker cannot); everything else in a Service is noted or refused."""
        for name, svc in self.services.items():
            spec = svc.get("spec") or {}
            check_keys(spec, f"Service {name}.spec", ("selector", "ports", "clusterIP", "type", "publishNotReadyAddresses"),
                       ("sessionAffinity", "ipFamilyPolicy", "ipFamilies", "internalTrafficPolicy", "clusterIPs"))
            if spec.get("type", "ClusterIP") != "ClusterIP":
                log(f"note: Service {name}: type {spec['type']} is emulated as ClusterIP (no external access)")
            for port in spec.get("ports") or []:
                check_keys(port, f"Service {name}.spec.ports", ("name", "port", "targetPort", "protocol"),
                           ("appProtocol", "nodePort"))
                target = port.get("targetPort", port["port"])
                if isinstance(target, str) and target.isdigit():
                    target = int(target)
                if isinstance(target, str):
                    for labels, ports in pods_by_labels:
                        selector = spec.get("selector") or {}
                        if selector and all(labels.get(k) == v for k, v in selector.items()) and target in ports:
                            target = ports[target]
                            break
                if isinstance(target, str):
                    continue  # no running pod names it: nothing to check
                if int(target) != int(port["port"]):
                    raise Unsupported(f"Service {name}: port {port['port']} -> targetPort {target}: Docker DNS aliases "
                                      "cannot remap ports; use the same number")


# ---------------------------------------------------------------------------------------------------------------
# Docker

class Docker:
    def __init__(self, binary):
        self.binary = binary

    def run(self, *args, check=True, capture=True, env=None, timeout=None):
        proc = subprocess.run([self.binary, *args], capture_output=capture, text=True, env=env, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} ...: exit {proc.returncode}: "
                               f"{(proc.stderr or '').strip()[-2000:]}")
        return proc

    def inspect(self, name, fmt):
        proc = self.run("inspect", "-f", fmt, name, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def logs_tail(self, name, lines=40):
        proc = self.run("logs", "--tail", str(lines), name, check=False)
        return (proc.stdout or "") + (proc.stderr or "")


def ensure_network(docker, name, subnet):
    current = docker.run("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", name, check=False)
    if current.returncode == 0:
        if current.stdout.strip() != subnet:
            raise RuntimeError(f"network {name} exists with subnet {current.stdout.strip()}, not {subnet}")
        return False
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    docker.run("network", "create", "--driver", "bridge", "--subnet", subnet, "--gateway", gateway,
               "--label", "strata.test=1", name)
    return True


def used_ips(docker, network):
    out = docker.run("network", "inspect", "-f", "{{range .Containers}}{{.IPv4Address}} {{end}}", network).stdout
    return {ip.split("/")[0] for ip in out.split()}


# ---------------------------------------------------------------------------------------------------------------
# DNS: a server answering NXDOMAIN to every query (see the module doc).

def dns_stub(bind):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, 53))
    while True:
        data, addr = sock.recvfrom(4096)
        if len(data) < 12 or data[2] & 0x80:
            continue
        qdcount = int.from_bytes(data[4:6], "big")
        end = 12
        try:
            for _ in range(qdcount):
                while data[end] != 0:
                    end += 1 + data[end]
                end += 5
        except IndexError:
            continue
        # Same id; QR=1, the query's opcode and RD; RA=1; RCODE=3 (NXDOMAIN); the question; no records.
        flags = ((0x80 | (data[2] & 0x79)) << 8) | 0x80 | 3
        sock.sendto(data[:2] + flags.to_bytes(2, "big") + data[4:6] + bytes(6) + data[12:end], addr)


def dns_answers(ip):
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x00\x00\x01\x00\x01"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    try:
        sock.sendto(query, (ip, 53))
        return sock.recvfrom(512)[0][:2] == b"\x12\x34"
    except OSError:
        return False
    finally:
        sock.close()


def ensure_dns(ip):
    """Start the NXDOMAIN server on ip:53 unless something answers there; returns its pid or None."""
    if dns_answers(ip):
        return None
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "dns-stub", "--bind", ip],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(50):
        if dns_answers(ip):
            # dev/docker.sh's strata_docker_stop stops it too, should `down` never run.
            run_dir = os.environ.get("STRATA_DOCKER_RUN")
            if run_dir and os.path.isdir(run_dir):
                with open(os.path.join(run_dir, "dns.pids"), "a") as f:
                    f.write(f"{proc.pid}\n")
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the DNS server on {ip}:53 did not start")


# ---------------------------------------------------------------------------------------------------------------
# Pods

POD_SPEC_HANDLED = ("containers", "initContainers", "volumes", "securityContext", "restartPolicy",
                    "terminationGracePeriodSeconds", "hostNetwork", "hostPID", "hostIPC", "dnsPolicy",
                    "enableServiceLinks", "shareProcessNamespace", "hostname", "subdomain")
POD_SPEC_IGNORED = ("affinity", "tolerations", "topologySpreadConstraints", "priorityClassName", "priority",
                    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeSelector",
                    "imagePullSecrets", "schedulerName", "preemptionPolicy", "runtimeClassName", "nodeName")
CONTAINER_HANDLED = ("name", "image", "command", "args", "env", "envFrom", "ports", "resources", "securityContext",
                     "volumeMounts", "readinessProbe", "livenessProbe", "startupProbe", "workingDir", "stdin", "tty")
CONTAINER_IGNORED = ("imagePullPolicy", "terminationMessagePath", "terminationMessagePolicy", "resizePolicy")
PROBE_HANDLED = ("httpGet", "tcpSocket", "exec")
PROBE_IGNORED = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold",
                 "terminationGracePeriodSeconds")
SECURITY_HANDLED = ("runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
                    "capabilities", "privileged", "seccompProfile", "procMount", "appArmorProfile")
POD_SECURITY_HANDLED = ("runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups", "seccompProfile",
                        "fsGroupChangePolicy", "appArmorProfile", "supplementalGroupsPolicy")


class Pod:
    """One pod to run: its name, IP, spec and owner; builds and starts its containers."""

    def __init__(self, ns, name, owner_kind, owner, template, ip, args):
        self.ns, self.name, self.owner_kind, self.owner, self.ip, self.args = ns, name, owner_kind, owner, ip, args
        meta = template.get("metadata") or {}
        check_keys(meta, f"{name}.metadata", ("labels", "annotations", "name", "namespace"), ("generateName",))
        self.labels = {k: str(v) for k, v in (meta.get("labels") or {}).items()}
        self.annotations = meta.get("annotations") or {}
        self.spec = template.get("spec") or {}
        self.statefulset_service = None
        self.state_dir = args.state_dir
        self.check()
        self.containers = [self.container_name(c, i) for i, c in enumerate(self.spec["containers"])]
        self.init_containers = [f"{self.name}-init-{c['name']}" for c in self.spec.get("initContainers") or []]

    # -- checks --------------------------------------------------------------------------------------------------
    def check(self):
        spec, where = self.spec, f"{self.owner_kind} {self.owner}: pod spec"
        check_keys(spec, where, POD_SPEC_HANDLED, POD_SPEC_IGNORED)
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                raise Unsupported(f"{where}: {flag}: true is not supported")
        if spec.get("dnsPolicy", "ClusterFirst") != "ClusterFirst":
            raise Unsupported(f"{where}: dnsPolicy {spec['dnsPolicy']} (only ClusterFirst)")
        if spec.get("shareProcessNamespace"):
            raise Unsupported(f"{where}: shareProcessNamespace")
        psc = spec.get("securityContext") or {}
        check_keys(psc, f"{where}.securityContext", POD_SECURITY_HANDLED)
        for c in spec.get("containers") or []:
            self.check_container(c, f"{where}.containers[{c.get('name')}]")
        for c in spec.get("initContainers") or []:
            self.check_container(c, f"{where}.initContainers[{c.get('name')}]")
            if c.get("restartPolicy"):
                raise Unsupported(f"{where}: sidecar initContainers (restartPolicy) are not supported")
        if not spec.get("containers"):
            raise Unsupported(f"{where}: no containers")

    def check_container(self, c, where):
        check_keys(c, where, CONTAINER_HANDLED + ("restartPolicy",), CONTAINER_IGNORED)
        if c.get("lifecycle"):
            raise Unsupported(f"{where}: lifecycle hooks")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            p = c.get(probe)
            if p:
                check_keys(p, f"{where}.{probe}", PROBE_HANDLED, PROBE_IGNORED)
                if p.get("httpGet"):
                    check_keys(p["httpGet"], f"{where}.{probe}.httpGet", ("path", "port", "scheme", "httpHeaders", "host"))
                if p.get("tcpSocket"):
                    check_keys(p["tcpSocket"], f"{where}.{probe}.tcpSocket", ("port", "host"))
        sc = c.get("securityContext") or {}
        check_keys(sc, f"{where}.securityContext", SECURITY_HANDLED)
        if sc.get("procMount", "Default") != "Default":
            raise Unsupported(f"{where}: procMount {sc['procMount']}")
        res = c.get("resources") or {}
        check_keys(res, f"{where}.resources", ("limits", "requests"), ("claims",))
        for key in (res.get("limits") or {}):
            if key not in ("cpu", "memory", "ephemeral-storage"):
                raise Unsupported(f"{where}: resource limit {key}")
        for port in c.get("ports") or []:
            check_keys(port, f"{where}.ports", ("name", "containerPort", "protocol"), ())
        for m in c.get("volumeMounts") or []:
            check_keys(m, f"{where}.volumeMounts", ("name", "mountPath", "readOnly", "subPath"), ())
            if m.get("mountPropagation", "None") != "None":
                raise Unsupported(f"{where}: mountPropagation")
        for e in c.get("env") or []:
            check_keys(e, f"{where}.env[{e.get('name')}]", ("name", "value", "valueFrom"))
        for e in c.get("envFrom") or []:
            check_keys(e, f"{where}.envFrom", ("configMapRef", "secretRef", "prefix"))
        if c.get("stdin") or c.get("tty"):
            raise Unsupported(f"{where}: stdin/tty")

    # -- identity --------------------------------------------------------------------------------------------------
    def container_name(self, c, index):
        return self.name if index == 0 else f"{self.name}-{c['name']}"

    def ports(self):
        out = {}
        for c in self.spec.get("containers") or []:
            for p in c.get("ports") or []:
                out[p.get("name") or str(p["containerPort"])] = int(p["containerPort"])
        return out

    def security(self, c):
        """(user, group, extra groups, run args) for container c: pod securityContext, then the container's."""
        psc = self.spec.get("securityContext") or {}
        sc = c.get("securityContext") or {}
        where = f"{self.name}.{c['name']}"
        run = []
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        gid = sc.get("runAsGroup", psc.get("runAsGroup"))
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        image_user = self.args.docker.inspect(self.image(c), "{{.Config.User}}") or ""
        if non_root:
            effective = uid if uid is not None else image_user.split(":")[0]
            if effective in ("", "root") or (str(effective).isdigit() and int(effective) == 0):
                raise Unsupported(f"{where}: runAsNonRoot but the container would run as root")
            if not str(effective).isdigit():
                raise Unsupported(f"{where}: runAsNonRoot needs a numeric user (image user {image_user!r})")
        if uid is not None:
            run += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        elif gid is not None:
            raise Unsupported(f"{where}: runAsGroup without runAsUser")
        groups = [psc["fsGroup"]] if psc.get("fsGroup") is not None else []
        groups += list(psc.get("supplementalGroups") or [])
        for g in groups:
            run += ["--group-add", str(g)]
        if sc.get("readOnlyRootFilesystem"):
            run.append("--read-only")
        if sc.get("allowPrivilegeEscalation") is False:
            run += ["--security-opt", "no-new-privileges"]
        if sc.get("privileged"):
            run.append("--privileged")
        caps = sc.get("capabilities") or {}
        check_keys(caps, f"{where}.securityContext.capabilities", ("drop", "add"))
        for cap in caps.get("drop") or []:
            run += ["--cap-drop", cap]
        for cap in caps.get("add") or []:
            run += ["--cap-add", cap]
        seccomp = sc.get("seccompProfile") or psc.get("seccompProfile") or {}
        check_keys(seccomp, f"{where}.seccompProfile", ("type",))
        kind = seccomp.get("type", "RuntimeDefault")
        if kind == "Unconfined":
            run += ["--security-opt", "seccomp=unconfined"]
        elif kind != "RuntimeDefault":
            raise Unsupported(f"{where}: seccompProfile {kind}")
        for ctx in (sc, psc):
            apparmor = (ctx.get("appArmorProfile") or {}).get("type", "RuntimeDefault")
            if apparmor != "RuntimeDefault":
                raise Unsupported(f"{where}: appArmorProfile {apparmor}")
        return run

    def image(self, c):
        image = c["image"]
        return self.args.image_map.get(image, image)

    # -- env -----------------------------------------------------------------------------------------------------
    def field(self, path, where):
        fields = {"metadata.name": self.name, "metadata.namespace": self.ns.namespace,
                  "metadata.uid": f"kube-play-{self.name}", "status.podIP": self.ip, "status.podIPs": self.ip,
                  "status.hostIP": self.args.gateway, "status.hostIPs": self.args.gateway, "spec.nodeName": "kube-play",
                  "spec.serviceAccountName": self.spec.get("serviceAccountName", "default")}
        if path in fields:
            return fields[path]
        for prefix, source in (("metadata.labels", self.labels), ("metadata.annotations", self.annotations)):
            if path.startswith(prefix + "['") and path.endswith("']"):
                return str(source.get(path[len(prefix) + 2 : -2], ""))
        raise Unsupported(f"{where}: fieldRef {path}")

    def resource_field(self, c, ref, where):
        check_keys(ref, where, ("resource", "divisor", "containerName"))
        res = c.get("resources") or {}
        kind, what = ref["resource"].split(".", 1)
        value = (res.get(kind) or {}).get(what)
        if value is None:
            raise Unsupported(f"{where}: resourceFieldRef {ref['resource']} has no value (node allocatable)")
        divisor = parse_quantity(ref.get("divisor", "1"))
        return str(int(math.ceil(parse_quantity(value) / divisor)))

    def env(self, c):
        where = f"{self.name}.{c['name']}"
        env = {}
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind in ("configMapRef", "secretRef"):
                ref = src.get(kind)
                if ref is None:
                    continue
                check_keys(ref, f"{where}.envFrom.{kind}", ("name", "optional"))
                store = self.ns.configmaps if kind == "configMapRef" else self.ns.secrets
                if ref["name"] not in store:
                    if ref.get("optional"):
                        continue
                    raise Unsupported(f"{where}: envFrom {kind} {ref['name']} does not exist")
                for k, v in store[ref["name"]].items():
                    env[prefix + k] = v.decode() if isinstance(v, bytes) else str(v)
        for e in c.get("env") or []:
            name = e["name"]
            if "valueFrom" in e:
                vf = e["valueFrom"]
                check_keys(vf, f"{where}.env[{name}].valueFrom",
                           ("configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef"))
                if "configMapKeyRef" in vf or "secretKeyRef" in vf:
                    kind = "configMap" if "configMapKeyRef" in vf else "secret"
                    ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef")
                    check_keys(ref, f"{where}.env[{name}]", ("name", "key", "optional"))
                    value = self.ns.lookup(kind, ref["name"], ref["key"], ref.get("optional"), f"{where}.env[{name}]")
                    if value is None:
                        continue
                elif "fieldRef" in vf:
                    check_keys(vf["fieldRef"], f"{where}.env[{name}].fieldRef", ("fieldPath", "apiVersion"))
                    value = self.field(vf["fieldRef"]["fieldPath"], f"{where}.env[{name}]")
                else:
                    value = self.resource_field(c, vf["resourceFieldRef"], f"{where}.env[{name}]")
            else:
                value = expand(str(e.get("value", "")), env)
            env[name] = value
        return env

    # -- volumes -------------------------------------------------------------------------------------------------
    def volume_dirs(self):
        """Make every volume's host directory (or tmpfs spec); returns name -> ('bind', path) | ('tmpfs', opts)."""
        psc = self.spec.get("securityContext") or {}
        fs_group = psc.get("fsGroup")
        out = {}
        base = os.path.join(self.state_dir, "pods", self.name)
        for v in self.spec.get("volumes") or []:
            name = v["name"]
            kinds = [k for k in v if k != "name"]
            if len(kinds) != 1:
                raise Unsupported(f"{self.name}: volume {name}: {kinds}")
            kind = kinds[0]
            where = f"{self.name}: volume {name}"
            if kind == "emptyDir":
                ed = v["emptyDir"] or {}
                check_keys(ed, where, ("medium", "sizeLimit"))
                if ed.get("medium") not in (None, "", "Memory"):
                    raise Unsupported(f"{where}: medium {ed['medium']}")
                if ed.get("medium") == "Memory" or self.args.emptydir == "tmpfs":
                    # Docker's --tmpfs default is noexec; the kubelet's tmpfs emptyDir is not.
                    opts = ["exec", "nosuid", "nodev"]
                    if ed.get("sizeLimit"):
                        opts.append(f"size={int(parse_quantity(ed['sizeLimit']))}")
                    opts.append("mode=2777" if fs_group is not None else "mode=1777")
                    if fs_group is not None:
                        opts.append(f"gid={fs_group}")
                    out[name] = ("tmpfs", ",".join(opts))
                else:
                    path = os.path.join(base, "emptydir", name)
                    os.makedirs(path, exist_ok=True)
                    if fs_group is not None:
                        os.chown(path, 0, int(fs_group))
                        os.chmod(path, 0o2777)
                    else:
                        os.chmod(path, 0o777)
                    out[name] = ("bind", path)
            elif kind in ("configMap", "secret", "projected"):
                path = os.path.join(base, kind, name)
                if os.path.exists(path):
                    shutil.rmtree(path)
                os.makedirs(path)
                if kind == "projected":
                    pv = v["projected"]
                    check_keys(pv, where, ("sources", "defaultMode"))
                    default_mode = pv.get("defaultMode", 0o644)
                    for src in pv.get("sources") or []:
                        check_keys(src, f"{where}.sources", ("configMap", "secret"))
                        for skind, sv in src.items():
                            self.write_files(path, skind, sv, sv.get("name"), default_mode, fs_group, f"{where}.{skind}",
                                             ("name", "items", "optional"))
                else:
                    sv = v[kind] or {}
                    ref = sv.get("name") if kind == "configMap" else sv.get("secretName")
                    self.write_files(path, kind, sv, ref, sv.get("defaultMode", 0o644), fs_group, where,
                                     ("name" if kind == "configMap" else "secretName", "items", "optional", "defaultMode"))
                os.chmod(path, 0o755)
                out[name] = ("bind-ro", path)
            elif kind == "persistentVolumeClaim":
                pvc = v[kind]
                check_keys(pvc, where, ("claimName", "readOnly"))
                path = os.path.join(self.state_dir, "claims", pvc["claimName"])
                self.make_claim_dir(path, fs_group)
                out[name] = ("bind-ro" if pvc.get("readOnly") else "bind", path)
            else:
                raise Unsupported(f"{where}: volume type {kind} is not supported")
        return out

    @staticmethod
    def make_claim_dir(path, fs_group):
        if not os.path.isdir(path):
            os.makedirs(path)
            if fs_group is not None:
                os.chown(path, 0, int(fs_group))
                os.chmod(path, 0o2775)
            else:
                os.chmod(path, 0o777)

    def write_files(self, path, kind, sv, ref, default_mode, fs_group, where, allowed):
        check_keys(sv, where, allowed)
        store = self.ns.configmaps if kind == "configMap" else self.ns.secrets
        if ref not in store:
            if sv.get("optional"):
                return
            raise Unsupported(f"{where}: {kind} {ref} does not exist")
        data = store[ref]
        items = sv.get("items")
        if items is None:
            items = [{"key": k, "path": k} for k in sorted(data)]
        for item in items:
            check_keys(item, f"{where}.items", ("key", "path", "mode"))
            if item["key"] not in data:
                if sv.get("optional"):
                    continue
                raise Unsupported(f"{where}: {kind} {ref} has no key {item['key']}")
            rel = os.path.normpath(item["path"])
            if rel.startswith("..") or os.path.isabs(rel):
                raise Unsupported(f"{where}: item path {item['path']}")
            file = os.path.join(path, rel)
            os.makedirs(os.path.dirname(file), exist_ok=True)
            value = data[item["key"]]
            with open(file, "wb") as f:
                f.write(value if isinstance(value, bytes) else str(value).encode())
            mode = item.get("mode", default_mode)
            if fs_group is not None:
                # The kubelet gives the volume to fsGroup and makes files group-readable.
                os.chown(file, 0, int(fs_group))
                mode |= 0o040
            os.chmod(file, mode)

    def mounts(self, c, volumes):
        run = []
        for m in c.get("volumeMounts") or []:
            name = m["name"]
            if name not in volumes:
                raise Unsupported(f"{self.name}.{c['name']}: volumeMount of undefined volume {name}")
            kind, src = volumes[name]
            dst = m["mountPath"]
            ro = m.get("readOnly") or kind == "bind-ro"
            if kind == "tmpfs":
                if m.get("subPath"):
                    raise Unsupported(f"{self.name}: subPath on a tmpfs emptyDir")
                run += ["--tmpfs", f"{dst}:{'ro' if ro else 'rw'},{src}"]
                continue
            if m.get("subPath"):
                sub = os.path.normpath(m["subPath"])
                if sub.startswith("..") or os.path.isabs(sub):
                    raise Unsupported(f"{self.name}: subPath {m['subPath']}")
                src = os.path.join(src, sub)
                if not os.path.exists(src):
                    if kind == "bind-ro":
                        raise Unsupported(f"{self.name}: subPath {m['subPath']} not in volume {name}")
                    os.makedirs(src, mode=0o777)
            run += ["--mount", f"type=bind,source={src},destination={dst}" + (",readonly" if ro else "")]
        return run

    # -- run -----------------------------------------------------------------------------------------------------
    def docker_args(self, c, container, volumes, env, network_args, restart, init=False):
        where = f"{self.name}.{c['name']}"
        image = self.image(c)
        if self.args.docker.inspect(image, "{{.Id}}") is None:
            raise Unsupported(f"{where}: image {image} is not present locally (map it with --image-map "
                              f"{c['image']}=LOCALTAG)")
        labels = dict(self.labels)
        labels.update({"strata.test": "1", "strata.pod": self.name, "strata.container": c["name"],
                       "strata.owner": f"{self.owner_kind}/{self.owner}"})
        run = ["run", "-d", "--name", container]
        for k, v in labels.items():
            run += ["--label", f"{k}={v}"]
        run += network_args
        run += self.security(c)
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        if "memory" in limits:
            mem = int(parse_quantity(limits["memory"]))
            run += ["--memory", str(mem), "--memory-swap", str(mem)]
        if "cpu" in limits:
            run += ["--cpus", f"{parse_quantity(limits['cpu']):.3f}"]
        grace = self.spec.get("terminationGracePeriodSeconds", 30)
        run += ["--stop-timeout", str(int(grace))]
        if not init:
            run += ["--restart", restart]
        if c.get("workingDir"):
            run += ["--workdir", c["workingDir"]]
        run += self.mounts(c, volumes)
        # Env: single-line values through a file (kept off the command line), others through the CLI's env.
        env_file = os.path.join(self.state_dir, "pods", self.name, f"{container}.env")
        os.makedirs(os.path.dirname(env_file), exist_ok=True)
        cli_env = dict(os.environ)
        with open(os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            for k, v in env.items():
                if "\n" in v or "\r" in v or "\0" in v:
                    if k in ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "PATH", "HOME"):
                        raise Unsupported(f"{where}: multi-line env {k}")
                    cli_env[k] = v
                    run += ["--env", k]
                else:
                    f.write(f"{k}={v}\n")
        run += ["--env-file", env_file]
        command = [expand(str(x), env) for x in c.get("command") or []]
        args = [expand(str(x), env) for x in c.get("args") or []]
        if command:
            run += ["--entrypoint", command[0], image] + command[1:] + args
        else:
            run += [image] + args
        return run, cli_env

    def network_args(self, with_aliases):
        net = ["--network", self.args.network, "--ip", self.ip, "--hostname", self.name,
               "--dns", self.args.gateway, "--dns-option", "ndots:5"]
        for d in (f"{self.ns.namespace}.svc.cluster.local", "svc.cluster.local", "cluster.local"):
            net += ["--dns-search", d]
        if with_aliases:
            for alias in self.aliases():
                net += ["--network-alias", alias]
        return net

    def aliases(self):
        return self.ns.service_aliases(self.labels, self.name, self.statefulset_service)

    def restart_policy(self, default):
        policy = self.spec.get("restartPolicy", default)
        return {"Always": "unless-stopped", "OnFailure": "on-failure", "Never": "no"}[policy]

    def plan(self, restart_default="Always"):
        """Check everything and build every `docker run` (volumes are prepared); nothing starts yet."""
        volumes = self.volume_dirs()
        self.restart = "no" if self.args.no_restart else self.restart_policy(restart_default)
        self.steps = []
        for c, name in zip(self.spec.get("initContainers") or [], self.init_containers):
            run, cli_env = self.docker_args(c, name, volumes, self.env(c), self.network_args(False), "no", init=True)
            self.steps.append(("init", c["name"], name, run, cli_env))
        for i, (c, name) in enumerate(zip(self.spec["containers"], self.containers)):
            net = self.network_args(True) if i == 0 else ["--network", f"container:{self.name}"]
            run, cli_env = self.docker_args(c, name, volumes, self.env(c), net, self.restart)
            self.steps.append(("main", c["name"], name, run, cli_env))

    def start(self):
        """Run the init containers one at a time to completion, then start the pod's containers."""
        docker = self.args.docker
        for kind, cname, name, run, cli_env in self.steps:
            docker.run("rm", "-f", name, check=False)
            docker.run(*run, env=cli_env)
            if kind == "init":
                code = docker.run("wait", name).stdout.strip()
                if code != "0":
                    logs = docker.logs_tail(name, 60)
                    raise RuntimeError(f"{self.name}: init container {cname} exited {code}:\n{logs}")
                if getattr(self.args, "print_init_logs", False):
                    logs = docker.run("logs", name, check=False)
                    sys.stdout.write(logs.stdout)
                    sys.stderr.write(logs.stderr)
                docker.run("rm", name, check=False)

    # -- readiness -----------------------------------------------------------------------------------------------
    def probe_ok(self, c, probe, container):
        ports = {p.get("name"): int(p["containerPort"]) for p in c.get("ports") or [] if p.get("name")}
        def port_of(p):
            if isinstance(p, int) or str(p).isdigit():
                return int(p)
            if p not in ports:
                raise Unsupported(f"{self.name}: probe port {p} is not a named container port")
            return ports[p]
        if probe.get("httpGet"):
            g = probe["httpGet"]
            scheme = g.get("scheme", "HTTP").lower()
            url = f"{scheme}://{g.get('host') or self.ip}:{port_of(g['port'])}{g.get('path', '/')}"
            req = urllib.request.Request(url, headers={h["name"]: h["value"] for h in g.get("httpHeaders") or []})
            ctx = ssl._create_unverified_context() if scheme == "https" else None  # as the kubelet: not verified
            try:
                with urllib.request.urlopen(req, timeout=1, context=ctx) as resp:
                    return 200 <= resp.status < 400
            except urllib.error.HTTPError as e:
                return 200 <= e.code < 400
            except (OSError, urllib.error.URLError):
                return False
        if probe.get("tcpSocket"):
            t = probe["tcpSocket"]
            try:
                with socket.create_connection((t.get("host") or self.ip, port_of(t["port"])), timeout=1):
                    return True
            except OSError:
                return False
        if probe.get("exec"):
            command = probe["exec"].get("command") or []
            return self.args.docker.run("exec", container, *command, check=False, timeout=10).returncode == 0
        raise Unsupported(f"{self.name}: probe without httpGet, tcpSocket or exec")

    def status(self):
        """('ready'|'starting'|'failed', detail)."""
        docker = self.args.docker
        for i, c in enumerate(self.spec["containers"]):
            name = self.containers[i]
            state = docker.inspect(name, "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}")
            if state is None:
                return "failed", f"container {name} is gone"
            status, code, restarts = state.split()
            if int(restarts) >= 3:
                return "failed", f"container {name} restarted {restarts} times (crash loop; last exit {code})"
            if status != "running":
                if status in ("exited", "dead") and self.restart == "no":
                    return "failed", f"container {name} {status} with code {code}"
                return "starting", f"container {name} {status} (exit {code}, {restarts} restarts)"
            probe = c.get("readinessProbe")
            if probe and not self.probe_ok(c, probe, name):
                return "starting", f"container {name}: readiness probe failing"
        return "ready", ""


    def record(self, ready):
        return {"kind": self.owner_kind, "owner": self.owner, "containers": self.containers,
                "init_containers": self.init_containers, "ip": self.ip,
                "hostname": self.name, "ports": self.ports(), "aliases": self.aliases(), "labels": self.labels,
                "ready": ready}


# ---------------------------------------------------------------------------------------------------------------
# Commands

def load_docs(paths):
    docs = []
    for path in paths:
        with open(path) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def load_state(path):
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"pods": {}, "created": {}}


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def prepare(args):
    args.docker = Docker(args.docker_binary)
    args.image_map = dict(m.split("=", 1) for m in args.image_map or [])
    args.gateway = str(next(ipaddress.ip_network(args.subnet).hosts()))
    args.state_dir = os.path.splitext(os.path.abspath(args.state))[0] + ".d"
    os.makedirs(args.state_dir, exist_ok=True)
    ns = Namespace(load_docs(args.manifests), args.secrets_dir, args.namespace)
    for note in ns.notes:
        log(f"note: {note}")
    state = load_state(args.state)
    state.setdefault("created", {})
    state.update({"network": args.network, "subnet": args.subnet, "gateway": args.gateway, "namespace": ns.namespace,
                  "state_dir": args.state_dir})
    if ensure_network(args.docker, args.network, args.subnet):
        state["created"]["network"] = args.network
    pid = ensure_dns(args.gateway)
    if pid:
        state["created"]["dns_pid"] = pid
    save_state(args.state, state)
    return ns, state


def ip_allocator(args):
    taken = used_ips(args.docker, args.network) | {args.gateway}
    net = ipaddress.ip_network(args.subnet)
    def allocate():
        for host in net.hosts():
            ip = str(host)
            if int(host) - int(net.network_address) >= 10 and ip not in taken:
                taken.add(ip)
                return ip
        raise RuntimeError(f"no free address in {args.subnet}")
    return allocate


def select_workloads(ns, only):
    if not only:
        return [[name] for name in ns.workloads]
    groups = []
    for item in only.split(","):
        matched = [name for name, w in ns.workloads.items()
                   if name == item or name.endswith("-" + item)
                   or ((w.get("spec") or {}).get("template", {}).get("metadata", {}).get("labels") or {})
                   .get("app.kubernetes.io/component") == item]
        if not matched:
            raise Unsupported(f"--only {item}: no Deployment or StatefulSet matches (have: {', '.join(ns.workloads)})")
        groups.append(matched)
    return groups


def workload_pods(ns, name, args, allocate, state):
    w = ns.workloads[name]
    kind, spec = w["kind"], w.get("spec") or {}
    handled = ("replicas", "selector", "template")
    ignored = ("strategy", "revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds", "updateStrategy",
               "podManagementPolicy", "persistentVolumeClaimRetentionPolicy")
    check_keys(spec, f"{kind} {name}.spec", handled + (("serviceName", "volumeClaimTemplates") if kind == "StatefulSet"
                                                       else ()), ignored)
    template = spec["template"]
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector") or {}
    check_keys(selector, f"{kind} {name}.spec.selector", ("matchLabels",))
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            raise Unsupported(f"{kind} {name}: selector {k}={v} does not match the pod template")
    replicas = spec.get("replicas", 1)
    pods = []
    for i in range(int(replicas)):
        pod_name = f"{name}-{i}"
        if pod_name in state["pods"]:
            ip = state["pods"][pod_name]["ip"]
        else:
            ip = allocate()
        pod = Pod(ns, pod_name, kind, name, template, ip, args)
        if kind == "StatefulSet":
            pod.statefulset_service = spec.get("serviceName")
            for claim in spec.get("volumeClaimTemplates") or []:
                claim_name = f"{claim['metadata']['name']}-{pod_name}"
                path = os.path.join(args.state_dir, "claims", claim_name)
                pod.make_claim_dir(path, (template.get("spec", {}).get("securityContext") or {}).get("fsGroup"))
                pod.spec = dict(pod.spec)
                pod.spec["volumes"] = list(pod.spec.get("volumes") or []) + [
                    {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}]
        pods.append(pod)
    return pods


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "run-test"):
        p = sub.add_parser(name)
        p.add_argument("--manifests", action="append", required=True, help="rendered YAML (repeatable)")
        p.add_argument("--network", required=True)
        p.add_argument("--subnet", required=True)
        p.add_argument("--image-map", action="append", help="IMAGE=LOCALTAG (repeatable)")
        p.add_argument("--secrets-dir", help="DIR/<secret name>/<key>: the Secrets the chart references")
        p.add_argument("--state", required=True)
        p.add_argument("--namespace", help="default: the manifests' metadata.namespace, else `default`")
        p.add_argument("--timeout", type=float, default=120)
        p.add_argument("--emptydir", choices=("disk", "tmpfs"), default="disk",
                       help="emptyDir without medium: a host directory (default, like the kubelet) or a tmpfs")
        p.add_argument("--no-restart", action="store_true", help="--restart no for every container")
        p.add_argument("--docker-binary", default=os.environ.get("STRATA_KUBE_PLAY_DOCKER", "docker"))
        if name == "up":
            p.add_argument("--only", help="comma-separated workloads (name, -suffix or component label), in order")
        else:
            p.add_argument("--name", required=True, help="the test Pod (or Job) to run")
            p.add_argument("--keep", action="store_true", help="keep the container after it exits")
    p = sub.add_parser("down")
    p.add_argument("--state", required=True)
    p.add_argument("--docker-binary", default=os.environ.get("STRATA_KUBE_PLAY_DOCKER", "docker"))
    p = sub.add_parser("dns-stub")
    p.add_argument("--bind", required=True)
    p.add_argument("--detach", action="store_true",
                   help="start it in the background unless something answers there; print its pid if started")
    args = parser.parse_args()
    try:
        if args.command == "up":
            return cmd_up(args)
        if args.command == "run-test":
            return cmd_run_test(args)
        if args.command == "down":
            return cmd_down(args)
        if args.command == "dns-stub":
            if args.detach:
                pid = ensure_dns(args.bind)
                if pid:
                    print(pid)
            else:
                dns_stub(args.bind)
    except (Unsupported, RuntimeError) as e:
        log(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
