"""The "namespace": the rendered manifests' ConfigMaps, Secrets, Services and workloads, plus --secrets-dir.

Guarantees: every kind is either modelled, noted as not emulated (IGNORED_KINDS), or refused (Unsupported); all
objects share one namespace; Secrets from --secrets-dir (DIR/<secret>/<key>, bytes as they are) complete the
rendered ones; Service aliases follow Kubernetes' DNS names; a Service that remaps a port is refused.
"""
import base64
import os

from .bootstrap import yaml
from .fields import Unsupported, check_keys, log


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



def load_docs(paths):
    docs = []
    for path in paths:
        with open(path) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs
