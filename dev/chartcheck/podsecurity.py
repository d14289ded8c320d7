"""The pod walker: problems of rendered objects against Pod Security "restricted" and the chart's own rules.

Guarantees: check_objects returns one 'Kind/name: problem' string per problem, for every pod spec rendered (Pods,
CronJobs and workloads): no host namespaces, ports or paths; only restricted volume types; sized emptyDirs; no
service account token; non-root, no privilege escalation, all capabilities dropped (NET_BIND_SERVICE may be
added), read-only root filesystem, RuntimeDefault/Localhost seccomp; cpu/memory requests and limits; liveness and
readiness probes on long-running containers; tagged, non-latest images; no literal credential in env or a
ConfigMap (a path to one is fine); no Secret with data; ServiceAccounts without token automount.
"""
import re

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
