"""A container's environment, built as the kubelet builds it.

Guarantees: envFrom (configMapRef/secretRef, prefix, optional) first, then env in order with $(VAR) references to
earlier entries expanded; valueFrom configMapKeyRef/secretKeyRef (optional honoured: an absent optional value is
left out), fieldRef (name, namespace, uid, labels, annotations, pod/host IPs, node and service account names) and
resourceFieldRef (limits/requests with divisor, rounded up); a reference that cannot be resolved is refused.
A mixin of Pod: it reads self.ns, self.name, self.ip, self.labels, self.annotations, self.spec and self.args.
"""
import math

from .fields import Unsupported, check_keys, expand, parse_quantity


class PodEnv:
    """Env of a Pod's containers (mixin)."""

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
