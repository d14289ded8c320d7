"""Deployments and StatefulSets expanded into Pods, and the --only groups.

Guarantees: select_workloads returns groups in --only order (a name, a -suffix or a component label; an item that
matches nothing is refused), or one group per workload; workload_pods makes `replicas` Pods <name>-0..N-1
(keeping the IP a pod has in the state), refuses a selector that does not match the template, and gives
StatefulSet pods their serviceName DNS names and per-pod claim directories.
"""
import os

from .fields import Unsupported, check_keys
from .pod import Pod


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
