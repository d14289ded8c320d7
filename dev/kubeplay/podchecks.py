"""What a pod spec may contain: every field is handled, explicitly ignored, or refused.

Guarantees: PodChecks.check raises Unsupported for any pod spec, container, probe, securityContext, resources,
port, volumeMount or env field the runner does not emulate (host namespaces, non-ClusterFirst DNS, lifecycle
hooks, sidecar init containers, stdin/tty, limits other than cpu/memory/ephemeral-storage, ...), before anything
is created. A mixin of Pod: it reads self.spec, self.owner_kind and self.owner.
"""
from .fields import Unsupported, check_keys

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


class PodChecks:
    """The checks of a Pod's spec (mixin)."""

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
