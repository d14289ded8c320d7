"""securityContext (pod, then container) translated into `docker run` arguments.

Guarantees: runAsUser/runAsGroup -> --user, fsGroup and supplementalGroups -> --group-add, readOnlyRootFilesystem
-> --read-only, allowPrivilegeEscalation: false -> no-new-privileges, capabilities, privileged, seccomp
RuntimeDefault/Unconfined; runAsNonRoot is checked as the kubelet does (against the image's user when no
runAsUser is set); anything else (other seccomp or AppArmor profiles, runAsGroup alone) is refused. A mixin of
Pod: it reads self.spec, self.name, self.args.docker and self.image().
"""
from .fields import Unsupported, check_keys


class PodSecurity:
    """A container's security settings as docker arguments (mixin)."""

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
