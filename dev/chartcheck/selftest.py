"""The self-test of the pod walker and the NetworkPolicy evaluator.

Guarantees: self_test() returns an empty list only if the walker reports every problem planted in a bad
Deployment (and a Secret, a ServiceAccount, a ConfigMap), reports nothing wrong about allowed settings, passes a
good pod, and the evaluator reads "no policies", a default-deny and podSelector/port rules correctly; otherwise
one message per failure. A checker that can no longer fail is thereby itself a failure.
"""
from .netpol import allowed
from .podsecurity import check_objects
from .release import NAMESPACE


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
