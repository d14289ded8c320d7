#!/usr/bin/env python3
"""Offline checks of the Strata Helm chart (helm/strata), without a cluster.

    source dev/helm.sh; strata_check_chart                # all checks (helm, helm4, kubernetes-validate installed)
    python dev/check_chart.py --helm H --helm4 H4 --validate KV helm/strata
    python dev/check_chart.py --self-test                 # only: the pod walker finds planted problems

Checks, one output line each, every failure collected (exit status 1 if any):
  lint      `helm lint --strict` (helm 3 and 4) without values and with each ci/*.yaml
  validate  each ci/*.yaml rendered by `helm template` and validated by kubernetes-validate --strict against
            Kubernetes 1.29.0 and the newest bundled schema version; CRD kinds (KEDA's ScaledObject) are skipped
            by name, any other kind without a schema fails
  pods      every pod spec rendered (Deployments, helm test pods, ...) meets Pod Security "restricted", has a
            read-only root filesystem, cpu/memory requests and limits, probes on long-running containers, pinned
            images, no literal credentials in env or ConfigMaps, sized emptyDirs; no Secret carries data; no token
            is mounted
  netpol    the NetworkPolicies allow exactly the traffic Strata needs (a small evaluator over pod labels)
  install   `helm4 install --dry-run=client` for each ci/*.yaml
  bad       each tests-bad/*.yaml fails `helm template` (helm 3 and 4) with its `# expect:` text in the error
  schema    values.schema.json is draft-07, has only local $refs, closes every object it defines, and rejects
            malformed values
The walker's own self-test runs first, so a walker that can no longer fail is itself a failure.
"""

import argparse
import glob
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

NAMESPACE = "strata"
RELEASE = "r"
# Custom resources: no schema offline. Anything else without a schema is an error.
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
# Pod Security "restricted": allowed volume types.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|credential|private_?key|api_?key|access_?key)"
                         r"|(^|_)(pass|key)$")
NOT_A_SECRET_NAME = re.compile(r"(?i)_(file|path|dir|ref|id_file)$")


def secretish(name, value):
    """Whether a literal env / ConfigMap entry looks like a credential (a path to one is fine)."""
    if NOT_A_SECRET_NAME.search(name):
        return False
    if isinstance(value, str) and value.startswith("/"):
        return False
    return bool(SECRET_NAME.search(name))


# ---------------------------------------------------------------------------------------------------------------
# The pod walker


def pod_specs(doc):
    """(pod spec, long_running) of a rendered object, if it has one."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return [(spec, False)]
    if kind == "CronJob":
        return [(((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec") or {}, False)]
    if kind in WORKLOAD_KINDS:
        return [((spec.get("template") or {}).get("spec") or {}, kind != "Job")]
    return []


def image_problem(image):
    if not image:
        return "has no image"
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag"
    if last.rsplit(":", 1)[1].lower() == "latest":
        return f"image {image!r} is tagged latest"
    return None


def check_objects(docs):
    """Problems of rendered objects, as 'Kind/name: ...' strings."""
    problems = []
    for doc in docs:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        where = f"{kind}/{name}"
        if kind == "Secret" and (doc.get("data") or doc.get("stringData")):
            problems.append(f"{where}: the chart renders a Secret with data (credentials must come from "
                            "existing Secrets)")
        if kind == "ServiceAccount" and doc.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken is not false")
        if kind == "ConfigMap":
            for key, value in (doc.get("data") or {}).items():
                if secretish(key, value):
                    problems.append(f"{where}: data key {key} looks like a credential in plain text")
        for spec, long_running in pod_specs(doc):
            problems += [f"{where}: {p}" for p in check_pod(spec, long_running)]
    return problems


def check_pod(spec, long_running):
    out = []
    psc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"{field} is set")
    if spec.get("automountServiceAccountToken") is not False:
        out.append("automountServiceAccountToken is not false")
    if psc.get("runAsUser") == 0:
        out.append("pod securityContext runAsUser is 0 (root)")
    if psc.get("sysctls"):
        out.append("pod securityContext sets sysctls")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"pod seccompProfile is {pod_seccomp}")
    for vol in spec.get("volumes") or []:
        vtype = [k for k in vol if k != "name"]
        vname = vol.get("name")
        for t in vtype:
            if t == "hostPath":
                out.append(f"volume {vname} is a hostPath")
            elif t not in RESTRICTED_VOLUMES:
                out.append(f"volume {vname} has type {t}, not allowed by Pod Security restricted")
        if "emptyDir" in vol and not (vol.get("emptyDir") or {}).get("sizeLimit"):
            out.append(f"emptyDir volume {vname} has no sizeLimit")
    groups = [("containers", long_running), ("initContainers", False), ("ephemeralContainers", False)]
    for group, needs_probes in groups:
        for c in spec.get(group) or []:
            out += [f"{group[:-1]} {c.get('name')}: {p}" for p in check_container(c, psc, needs_probes)]
    if not spec.get("containers"):
        out.append("has no containers")
    return out


def check_container(c, psc, needs_probes):
    out = []
    sc = c.get("securityContext") or {}
    if sc.get("privileged"):
        out.append("privileged")
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append("allowPrivilegeEscalation is not false")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.append("capabilities do not drop ALL")
    added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        out.append(f"capabilities add {sorted(added)}")
    if sc.get("readOnlyRootFilesystem") is not True:
        out.append("readOnlyRootFilesystem is not true")
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is not True:
        out.append("runAsNonRoot is not true (pod or container)")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        out.append("runs as user 0 (root)")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out.append(f"seccompProfile is {seccomp or 'unset'} (RuntimeDefault or Localhost required)")
    for port in c.get("ports") or []:
        if port.get("hostPort"):
            out.append(f"hostPort {port.get('hostPort')}")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if not (res.get(part) or {}).get(r):
                out.append(f"no {r} {part[:-1]}")
    if needs_probes:
        for probe in ("livenessProbe", "readinessProbe"):
            if not c.get(probe):
                out.append(f"no {probe}")
    problem = image_problem(c.get("image"))
    if problem:
        out.append(problem)
    for env in c.get("env") or []:
        if "value" in env and secretish(env.get("name", ""), env.get("value")):
            out.append(f"env {env.get('name')} has a literal value that looks like a credential (use secretKeyRef)")
    return out


# ---------------------------------------------------------------------------------------------------------------
# A small NetworkPolicy evaluator (podSelector, namespaceSelector, ipBlock, numeric ports)

NAMESPACE_LABELS = {
    NAMESPACE: {"kubernetes.io/metadata.name": NAMESPACE},
    "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
    "other": {"kubernetes.io/metadata.name": "other"},
}


def selects(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(peer, policy_ns, endpoint):
    """endpoint: {'ns': ..., 'labels': {...}} for a pod, {'ip': ...} for an address outside the cluster."""
    if "ipBlock" in peer:
        if "ip" not in endpoint:
            return False  # pod IPs are not modelled in ipBlocks
        ip = ipaddress.ip_address(endpoint["ip"])
        block = peer["ipBlock"]
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(x) for x in block.get("except") or [])
    if "ip" in endpoint:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], NAMESPACE_LABELS.get(endpoint["ns"], {})):
            return False
    elif endpoint["ns"] != policy_ns:
        return False
    if "podSelector" in peer:
        return selects(peer["podSelector"], endpoint["labels"])
    return True


def port_matches(ports, port, protocol):
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        lo = p["port"]
        if not isinstance(lo, int):
            continue  # named ports are not used by the chart
        if lo <= port <= p.get("endPort", lo):
            return True
    return False


def direction_allows(policies, pod, other, port, protocol, direction):
    """Whether `pod`'s policies of this direction (Ingress/Egress) admit `other` on the port."""
    key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    applying = [p for p in policies
                if (p["metadata"].get("namespace") or NAMESPACE) == pod["ns"]
                and selects(p["spec"].get("podSelector") or {}, pod["labels"])
                and direction in (p["spec"].get("policyTypes") or ["Ingress"])]
    if not applying:
        return True
    for p in applying:
        for rule in p["spec"].get(key) or []:
            peers = rule.get(peer_key)
            if peers is not None and len(peers) > 0:
                if not any(peer_matches(peer, pod["ns"], other) for peer in peers):
                    continue
            if port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(policies, src, dst, port, protocol="TCP"):
    out = "ip" in src or direction_allows(policies, src, dst, port, protocol, "Egress")
    inn = "ip" in dst or direction_allows(policies, dst, src, port, protocol, "Ingress")
    return out and inn


def release_pod(component, **extra):
    labels = {"app.kubernetes.io/name": "strata", "app.kubernetes.io/instance": RELEASE,
              "app.kubernetes.io/component": component}
    labels.update(extra)
    return {"ns": NAMESPACE, "labels": labels}


def check_network(docs, values):
    """The connectivity Strata needs is allowed and nothing obviously more: (description, problem) lines."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    np_values = values.get("networkPolicy") or {}
    if np_values.get("enabled") is False:
        return ["networkPolicy.enabled=false: no policies expected"] if policies else []
    if not policies:
        return ["no NetworkPolicy rendered although networkPolicy.enabled is on"]
    sched, exe = release_pod("scheduler"), release_pod("executor")
    sch, test = release_pod("schedule"), release_pod("test", **{"strata.io/client": "true"})
    dns = {"ns": "kube-system", "labels": {"k8s-app": "kube-dns"}}
    internet = {"ip": "203.0.113.10"}
    stranger = {"ns": NAMESPACE, "labels": {"app": "something-else"}}
    expect = [
        (exe, sched, 50050, True, "executor -> scheduler grpc"),
        (sch, sched, 50050, True, "schedule -> scheduler grpc"),
        (sched, exe, 50051, True, "scheduler -> executor flight"),
        (sched, exe, 50052, True, "scheduler -> executor grpc"),
        (exe, exe, 50051, True, "executor -> executor flight (shuffle)"),
        (sch, exe, 50051, True, "schedule -> executor flight"),
        (test, sched, 50055, True, "helm test -> scheduler submit"),
        (test, sched, 50060, True, "helm test -> scheduler flight"),
        (sched, internet, 443, True, "scheduler -> object store (443)"),
        (exe, internet, 443, True, "executor -> object store (443)"),
        (stranger, sched, 50055, False, "unlabelled pod -> scheduler submit"),
        (stranger, sched, 50050, False, "unlabelled pod -> scheduler grpc"),
        (stranger, exe, 50051, False, "unlabelled pod -> executor flight"),
        (test, sched, 50050, False, "helm test -> scheduler grpc"),
        (test, exe, 50051, False, "helm test -> executor flight"),
        (test, internet, 443, False, "helm test -> internet"),
        (sched, internet, 22, False, "scheduler -> internet ssh"),
        (exe, sched, 50055, False, "executor -> scheduler submit"),
        (exe, {"ns": "other", "labels": {}}, 8080, False, "executor -> another namespace"),
    ]
    if (values.get("networkPolicy") or {}).get("clientSelectors") is None:  # the default selectors
        client = {"ns": NAMESPACE, "labels": {"strata.io/client": "true"}}
        other_ns_client = {"ns": "other", "labels": {"strata.io/client": "true"}}
        expect += [
            (client, sched, 50055, True, "client pod -> scheduler submit"),
            (client, sched, 50060, True, "client pod -> scheduler flight"),
            (client, sched, 50050, False, "client pod -> scheduler grpc"),
            (client, exe, 50051, False, "client pod -> executor flight"),
            (other_ns_client, sched, 50055, False, "client pod of another namespace -> scheduler submit"),
        ]
    rendered = {((d.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")
                for d in docs if pod_specs(d)}
    # Connections of pods that are not rendered (the schedule runner, the test pod) are not expected.
    expect = [e for e in expect
              if all(p.get("labels", {}).get("app.kubernetes.io/name") != "strata"
                     or p["labels"]["app.kubernetes.io/component"] in rendered for p in e[:2])]
    problems = []
    for src, dst, port, want, what in expect:
        got = allowed(policies, src, dst, port)
        if got != want:
            problems.append(f"{what} (port {port}) is {'allowed' if got else 'denied'}, expected "
                            f"{'allowed' if want else 'denied'}")
    for pod in (sched, exe, sch, test):
        if pod["labels"]["app.kubernetes.io/component"] not in rendered:
            continue
        for proto in ("UDP", "TCP"):
            if not allowed(policies, pod, dns, 53, proto):
                problems.append(f"{pod['labels']['app.kubernetes.io/component']} -> DNS {proto} 53 is denied")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Self-test of the walker and the evaluator


def self_test():
    """Feed the walker a bad pod (and friends) and a good pod; return a list of self-test failures."""
    bad = {
        "kind": "Deployment", "metadata": {"name": "bad"},
        "spec": {"template": {"spec": {
            "hostNetwork": True,
            "securityContext": {"runAsUser": 0},
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}, {"name": "scratch", "emptyDir": {}},
                        {"name": "nfs", "nfs": {"server": "x", "path": "/"}}],
            "containers": [{
                "name": "app", "image": "strata:latest",
                "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                "ports": [{"containerPort": 80, "hostPort": 80}],
                "env": [{"name": "STRATA_PG_PASSWORD", "value": "hunter2"},
                        {"name": "AWS_SECRET_ACCESS_KEY", "value": "abc"},
                        {"name": "STRATA_FLIGHT_PASSWORD_FILE", "value": "/etc/pw"}],
            }, {
                "name": "untagged", "image": "registry.example.com:5000/strata",
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True, "runAsUser": 65532, "capabilities": {"drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                "livenessProbe": {"httpGet": {"path": "/livez", "port": 1}},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 1}},
            }],
        }}},
    }
    others = [
        {"kind": "Secret", "metadata": {"name": "plain"}, "stringData": {"password": "x"}},
        {"kind": "ServiceAccount", "metadata": {"name": "sa"}},
        {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"AWS_SECRET_ACCESS_KEY": "abc",
                                                                  "STRATA_WAREHOUSE": "s3://x"}},
    ]
    found = check_objects([bad] + others)
    wanted = [
        "Deployment/bad: hostNetwork is set",
        "Deployment/bad: automountServiceAccountToken is not false",
        "Deployment/bad: pod securityContext runAsUser is 0",
        "volume host is a hostPath",
        "emptyDir volume scratch has no sizeLimit",
        "volume nfs has type nfs",
        "container app: privileged",
        "container app: allowPrivilegeEscalation is not false",
        "container app: capabilities do not drop ALL",
        "container app: capabilities add ['SYS_ADMIN']",
        "container app: readOnlyRootFilesystem is not true",
        "container app: runAsNonRoot is not true",
        "container app: runs as user 0",
        "container app: seccompProfile is unset",
        "container app: hostPort 80",
        "container app: no cpu request",
        "container app: no memory limit",
        "container app: no livenessProbe",
        "container app: no readinessProbe",
        "container app: image 'strata:latest' is tagged latest",
        "container app: env STRATA_PG_PASSWORD has a literal value",
        "container app: env AWS_SECRET_ACCESS_KEY has a literal value",
        "container untagged: image 'registry.example.com:5000/strata' has no tag",
        "Secret/plain: the chart renders a Secret with data",
        "ServiceAccount/sa: automountServiceAccountToken is not false",
        "ConfigMap/cm: data key AWS_SECRET_ACCESS_KEY",
    ]
    failures = [f"the walker did not report: {w}" for w in wanted if not any(w in p for p in found)]
    unwanted = ["STRATA_FLIGHT_PASSWORD_FILE", "STRATA_WAREHOUSE", "container untagged: no", "untagged: run"]
    failures += [f"the walker wrongly reported: {p}" for p in found if any(u in p for u in unwanted)]
    good_container = dict(bad["spec"]["template"]["spec"]["containers"][1], image="strata:0.1.0@sha256:" + "0" * 64)
    good = {"kind": "Pod", "metadata": {"name": "good"}, "spec": {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
        "initContainers": [dict(good_container, name="init", livenessProbe=None, readinessProbe=None)],
        "containers": [good_container]}}
    failures += [f"the walker rejected a good pod: {p}" for p in check_objects([good])]
    # The evaluator: nothing is isolated without policies; a default-deny isolates both ways.
    a = {"ns": NAMESPACE, "labels": {"app": "a"}}
    b = {"ns": NAMESPACE, "labels": {"app": "b"}}
    if not allowed([], a, b, 80):
        failures.append("the NetworkPolicy evaluator denies traffic without policies")
    deny = {"metadata": {"name": "deny", "namespace": NAMESPACE},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    if allowed([deny], a, b, 80):
        failures.append("the NetworkPolicy evaluator allows traffic under a default-deny")
    allow = {"metadata": {"name": "allow", "namespace": NAMESPACE},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 80}]}],
                      "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}]}]}}
    if not allowed([deny, allow], a, b, 80) or allowed([deny, allow], a, b, 81) or allowed([deny, allow], b, a, 80):
        failures.append("the NetworkPolicy evaluator misreads podSelector / port rules")
    return failures


# ---------------------------------------------------------------------------------------------------------------
# The checks


class Checker:
    def __init__(self, args):
        self.args = args
        self.chart = os.path.abspath(args.chart)
        self.failures = []
        self.passed = 0

    def report(self, name, problems):
        if problems is None:
            problems = []
        elif isinstance(problems, str):
            problems = [problems]
        problems = [p for p in problems if p]
        if problems:
            self.failures.append(name)
            print(f"FAIL {name}")
            for p in problems:
                for line in str(p).rstrip().splitlines():
                    print(f"     {line}")
        else:
            self.passed += 1
            print(f"ok   {name}")
        sys.stdout.flush()

    def run(self, cmd, stdin=None):
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    def rel(self, path):
        return os.path.relpath(path)

    def ci_files(self):
        files = sorted(glob.glob(os.path.join(self.chart, "ci", "*.yaml")))
        if not files:
            self.report("ci value sets exist", f"no {self.chart}/ci/*.yaml")
        return files

    def template(self, helm, values_file=None, extra=()):
        cmd = [helm, "template", RELEASE, self.chart, "--namespace", NAMESPACE]
        if values_file:
            cmd += ["-f", values_file]
        return self.run(cmd + list(extra))

    def check_lint(self, ci):
        for helm, label in ((self.args.helm, "helm"), (self.args.helm4, "helm4")):
            for f in [None] + ci:
                cmd = [helm, "lint", "--strict", self.chart, "--namespace", NAMESPACE]
                if f:
                    cmd += ["-f", f]
                rc, out, err = self.run(cmd)
                name = f"lint ({label}) {self.rel(f) if f else 'values.yaml only'}"
                self.report(name, None if rc == 0 else f"exit {rc}\n{out}{err}")

    def newest_kubernetes(self):
        """The newest Kubernetes version whose schemas kubernetes-validate bundles."""
        with open(self.args.validate) as f:
            shebang = f.readline()
        python = shebang[2:].strip() if shebang.startswith("#!") else sys.executable
        rc, out, _ = self.run([python, "-c", "import kubernetes_validate, os; "
                                             "print(os.path.dirname(kubernetes_validate.__file__))"])
        versions = []
        if rc == 0:
            data = os.path.join(out.strip(), "kubernetes-json-schema")
            for d in os.listdir(data) if os.path.isdir(data) else []:
                m = re.match(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$", d)
                if m:
                    versions.append(tuple(int(x) for x in m.groups()))
        if not versions:
            _, out, _ = self.run([self.args.validate, "--help"])
            m = re.search(r"Defaults to (\d+\.\d+\.\d+)", out.replace("\n", " "))
            if m:
                return m.group(1)
            return None
        return "%d.%d.%d" % max(versions)

    def check_rendered(self, ci):
        newest = self.newest_kubernetes()
        if not newest:
            self.report("kubernetes-validate bundled versions", "cannot find the newest bundled version")
        versions = ["1.29.0"] + ([newest] if newest and newest != "1.29.0" else [])
        for f in ci:
            rel = self.rel(f)
            rc, out, err = self.template(self.args.helm, f)
            if rc != 0:
                self.report(f"template {rel}", f"exit {rc}\n{err}")
                continue
            docs = [d for d in yaml.safe_load_all(out) if d]
            with open(f) as vf:
                values = yaml.safe_load(vf) or {}
            kinds = sorted({f"{d.get('kind')}" for d in docs})
            self.report(f"template {rel} ({len(docs)} objects: {', '.join(kinds)})",
                        None if docs else "nothing rendered")
            # Schema validation, CRDs skipped by name.
            plain = [d for d in docs if (d.get("apiVersion"), d.get("kind")) not in CRD_KINDS]
            skipped = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if d not in plain]
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
                yaml.safe_dump_all(plain, tmp, sort_keys=False)
            try:
                for v in versions:
                    rc, vout, verr = self.run([self.args.validate, "-k", v, "--strict", "--quiet", tmp.name])
                    note = f" (skipped CRDs: {', '.join(skipped)})" if skipped else ""
                    self.report(f"kubernetes-validate {v} --strict {rel}{note}",
                                None if rc == 0 and not (vout + verr).strip() else f"exit {rc}\n{vout}{verr}")
            finally:
                os.unlink(tmp.name)
            self.report(f"pod security, resources, probes, images, credentials: {rel}", check_objects(docs))
            self.check_hooks(rel, docs)
            self.report(f"network policies: {rel}", check_network(docs, values))

    def check_hooks(self, rel, docs):
        """The helm test pod is there (when tests are on), with the hook annotations."""
        tests = [d for d in docs if (d.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook") == "test"]
        problems = []
        for t in tests:
            ann = t["metadata"]["annotations"]
            pol = set((ann.get("helm.sh/hook-delete-policy") or "").split(","))
            if not {"before-hook-creation", "hook-succeeded"} <= pol:
                problems.append(f"{t['kind']}/{t['metadata']['name']}: hook-delete-policy is {pol}")
            if t["kind"] != "Pod":
                problems.append(f"{t['kind']}/{t['metadata']['name']}: a test hook that is not a Pod")
            elif t["metadata"].get("labels", {}).get("strata.io/client") != "true":
                problems.append(f"Pod/{t['metadata']['name']}: no strata.io/client=true label")
        if not tests:
            problems.append("no helm test pod rendered")
        self.report(f"helm test hook: {rel}", problems)

    def check_install(self, ci):
        for f in ci:
            cmd = [self.args.helm4, "install", RELEASE, self.chart, "--dry-run=client", "--namespace", NAMESPACE,
                   "-f", f]
            rc, out, err = self.run(cmd)
            self.report(f"helm4 install --dry-run=client {self.rel(f)}", None if rc == 0 else f"exit {rc}\n{err}")

    def check_bad(self):
        files = sorted(glob.glob(os.path.join(self.chart, "tests-bad", "*.yaml")))
        if not files:
            self.report("tests-bad value sets exist", f"no {self.chart}/tests-bad/*.yaml")
        for f in files:
            with open(f) as fh:
                expects = re.findall(r"^#\s*expect:\s*(.+?)\s*$", fh.read(), re.M)
            rel = self.rel(f)
            if not expects:
                self.report(f"must fail: {rel}", "no `# expect: <error text>` line")
                continue
            for helm, label in ((self.args.helm, "helm"), (self.args.helm4, "helm4")):
                rc, out, err = self.template(helm, f)
                problems = []
                if rc == 0:
                    problems.append("helm template succeeded")
                else:
                    flat = " ".join(err.split())
                    problems += [f"the error does not contain {e!r}:\n{err.strip()}" for e in expects
                                 if e not in flat]
                msg = " ".join(err.split())[:160]
                self.report(f"must fail ({label}): {rel} -> {msg}", problems)

    def check_schema(self, ci):
        path = os.path.join(self.chart, "values.schema.json")
        try:
            with open(path) as f:
                schema = json.load(f)
        except (OSError, ValueError) as e:
            self.report("values.schema.json loads", str(e))
            return
        problems = []
        if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
            problems.append(f"$schema is {schema.get('$schema')!r}, not draft-07")

        def walk(node, where):
            if isinstance(node, dict):
                ref = node.get("$ref")
                if ref is not None and not str(ref).startswith("#"):
                    problems.append(f"{where}: $ref {ref!r} is not local")
                if ref is not None and str(ref).startswith("#/"):
                    target = schema
                    for part in str(ref)[2:].split("/"):
                        target = target.get(part) if isinstance(target, dict) else None
                    if target is None:
                        problems.append(f"{where}: $ref {ref!r} points nowhere")
                if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") \
                        is not False:
                    problems.append(f"{where}: an object with properties but without additionalProperties: false")
                for k, v in node.items():
                    walk(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}/{i}")
        walk(schema, "#")
        self.report("values.schema.json: draft-07, local $refs only, closed objects", problems)
        base = next((f for f in ci if os.path.basename(f).startswith("default")), ci[0] if ci else None)
        rc, _, err = self.template(self.args.helm, base)
        self.report(f"schema accepts {self.rel(base) if base else 'values.yaml'}", None if rc == 0 else err)
        malformed = [
            (["--set", "executor.replicas=two"], "replicas"),
            (["--set", "executor.replicas=0"], "replicas"),
            (["--set-string", "tls.enabled=yes"], "enabled"),
            (["--set", "config.logFormat=xml"], "logFormat"),
            (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
            (["--set", "executor.resources.requests.cpu=lots"], "cpu"),
            (["--set", "executor.workDir.sizeLimit=20GB"], "sizeLimit"),
            (["--set", "networkPolicy.enabled=1"], "enabled"),
            (["--set", "scheduler.tmpSizeLimit=null"], "tmpSizeLimit"),
            (["--set", "schedule.jobs.nightly\\.txt=SELECT 1"], "nightly.txt"),
            (["--set", "executor.securityContext.privileged=true"], "securityContext"),
            (["--set", "podSecurityContext.runAsUser=0"], "podSecurityContext"),
        ]
        for extra, word in malformed:
            rc, _, err = self.template(self.args.helm, base, extra)
            problems = []
            if rc == 0:
                problems.append("accepted")
            elif word not in err:
                problems.append(f"the error does not name {word!r}: {err.strip()}")
            self.report(f"schema rejects {' '.join(extra[1:])}", problems)

    def main(self):
        self.report("walker self-test (a bad pod is caught, a good one passes)", self_test())
        for tool in (self.args.helm, self.args.helm4, self.args.validate):
            if not (tool and os.access(tool, os.X_OK)):
                self.report(f"tool {tool}", "not an executable (source dev/helm.sh for strata_helm, strata_helm4, "
                                            "strata_kubernetes_validate)")
                return 1
        ci = self.ci_files()
        self.check_lint(ci)
        self.check_rendered(ci)
        self.check_install(ci)
        self.check_bad()
        self.check_schema(ci)
        print()
        if self.failures:
            print(f"{len(self.failures)} check(s) failed, {self.passed} passed:")
            for f in self.failures:
                print(f"  - {f}")
            return 1
        print(f"all {self.passed} checks passed")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--helm", help="helm 3 binary (strata_helm)")
    ap.add_argument("--helm4", help="helm 4 binary (strata_helm4)")
    ap.add_argument("--validate", help="kubernetes-validate executable (strata_kubernetes_validate)")
    ap.add_argument("--self-test", action="store_true", help="only run the walker's self-test")
    ap.add_argument("chart", nargs="?", help="the chart directory (helm/strata)")
    args = ap.parse_args()
    if args.self_test:
        failures = self_test()
        for f in failures:
            print(f"FAIL {f}")
        print("walker self-test: " + ("failed" if failures else "ok (every planted problem reported, the good pod "
                                                                "passes)"))
        return 1 if failures else 0
    if not (args.chart and args.helm and args.helm4 and args.validate):
        ap.error("--helm, --helm4, --validate and CHART are required (or --self-test)")
    return Checker(args).main()


if __name__ == "__main__":
    sys.exit(main())
