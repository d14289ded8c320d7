"""A small NetworkPolicy evaluator (podSelector, namespaceSelector, ipBlock, numeric ports) and the matrix.

Guarantees: allowed() admits traffic only if both the source's Egress and the destination's Ingress policies do
(a pod no policy of a direction selects is open in that direction), as Kubernetes does; check_network() checks
every connection Strata needs is allowed, a list of connections it must not have is denied, and DNS (UDP and TCP
53 to kube-dns) is open for each rendered component; with networkPolicy.enabled=false no policy may be rendered.
"""
import ipaddress

from .podsecurity import pod_specs
from .release import NAMESPACE, RELEASE

NAMESPACE_LABELS = {
    NAMESPACE: {"kubernetes.io/metadata.name": NAMESPACE},
    "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
    "other": {"kubernetes.io/metadata.name": "other"},
    "monitoring": {"kubernetes.io/metadata.name": "monitoring"},
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
        (stranger, sched, 8080, False, "unlabelled pod -> scheduler http (console)"),
        (stranger, exe, 8081, False, "unlabelled pod -> executor http"),
        (test, sched, 8080, False, "helm test -> scheduler http (console)"),
        (test, exe, 8081, False, "helm test -> executor http"),
    ]
    if (values.get("networkPolicy") or {}).get("metricsFrom") is None:  # the default: the monitoring namespace
        prometheus = {"ns": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}}
        expect += [
            (prometheus, sched, 8080, True, "Prometheus -> scheduler /metrics"),
            (prometheus, exe, 8081, True, "Prometheus -> executor /metrics"),
            (prometheus, sch, 8082, True, "Prometheus -> schedule runner /metrics"),
            (prometheus, sched, 50055, False, "Prometheus -> scheduler submit"),
            ({"ns": "other", "labels": {}}, exe, 8081, False, "another namespace -> executor /metrics"),
        ]
    if (values.get("networkPolicy") or {}).get("clientSelectors") is None:  # the default selectors
        client = {"ns": NAMESPACE, "labels": {"strata.io/client": "true"}}
        other_ns_client = {"ns": "other", "labels": {"strata.io/client": "true"}}
        expect += [
            (client, sched, 50055, True, "client pod -> scheduler submit"),
            (client, sched, 50060, True, "client pod -> scheduler flight"),
            (client, sched, 50050, False, "client pod -> scheduler grpc"),
            (client, exe, 50051, False, "client pod -> executor flight"),
            (client, sched, 8080, True, "client pod -> scheduler console"),
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
