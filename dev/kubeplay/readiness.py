"""Whether a started pod is ready, starting, or failed.

Guarantees: a container is ready when running and its readinessProbe (httpGet from the host to the pod IP,
certificates not verified as the kubelet does; tcpSocket; exec through `docker exec`) succeeds, or running
without a probe; a pod is failed when a container is gone, restarted 3 times (crash loop), or exited under
restart policy "no". A mixin of Pod: it reads self.spec, self.containers, self.ip, self.name, self.restart and
self.args.docker.
"""
import socket
import ssl
import urllib.error
import urllib.request

from .fields import Unsupported


class PodReadiness:
    """Readiness of a Pod (mixin)."""

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
