"""Pod: one pod to run, its spec translated into `docker run` commands and started.

Guarantees: a Pod is checked when constructed (PodChecks), so an unsupported spec fails before anything runs;
plan() prepares the volumes and builds every `docker run` (image present locally or refused, labels strata.test=1
and the template's, network with static IP, hostname, DNS search path and ndots:5, Service aliases on the first
container and the others in its network namespace, security, memory/cpu limits, stop timeout, restart policy,
mounts, env through a 0600 env file, command/args with $(VAR) expansion) and starts nothing; start() runs the
init containers one at a time to completion (RuntimeError with their logs on failure), then the containers.
"""
import os
import sys

from .env import PodEnv
from .fields import Unsupported, check_keys, expand, parse_quantity
from .podchecks import PodChecks
from .readiness import PodReadiness
from .security import PodSecurity
from .volumes import PodVolumes


class Pod(PodChecks, PodSecurity, PodEnv, PodVolumes, PodReadiness):
    """One pod to run: its name, IP, spec and owner; builds and starts its containers."""

    def __init__(self, ns, name, owner_kind, owner, template, ip, args):
        self.ns, self.name, self.owner_kind, self.owner, self.ip, self.args = ns, name, owner_kind, owner, ip, args
        meta = template.get("metadata") or {}
        check_keys(meta, f"{name}.metadata", ("labels", "annotations", "name", "namespace"), ("generateName",))
        self.labels = {k: str(v) for k, v in (meta.get("labels") or {}).items()}
        self.annotations = meta.get("annotations") or {}
        self.spec = template.get("spec") or {}
        self.statefulset_service = None
        self.state_dir = args.state_dir
        self.check()
        self.containers = [self.container_name(c, i) for i, c in enumerate(self.spec["containers"])]
        self.init_containers = [f"{self.name}-init-{c['name']}" for c in self.spec.get("initContainers") or []]

    # -- identity --------------------------------------------------------------------------------------------------
    def container_name(self, c, index):
        return self.name if index == 0 else f"{self.name}-{c['name']}"

    def ports(self):
        out = {}
        for c in self.spec.get("containers") or []:
            for p in c.get("ports") or []:
                out[p.get("name") or str(p["containerPort"])] = int(p["containerPort"])
        return out

    def image(self, c):
        image = c["image"]
        return self.args.image_map.get(image, image)

    # -- run -----------------------------------------------------------------------------------------------------
    def docker_args(self, c, container, volumes, env, network_args, restart, init=False):
        where = f"{self.name}.{c['name']}"
        image = self.image(c)
        if self.args.docker.inspect(image, "{{.Id}}") is None:
            raise Unsupported(f"{where}: image {image} is not present locally (map it with --image-map "
                              f"{c['image']}=LOCALTAG)")
        labels = dict(self.labels)
        labels.update({"strata.test": "1", "strata.pod": self.name, "strata.container": c["name"],
                       "strata.owner": f"{self.owner_kind}/{self.owner}"})
        run = ["run", "-d", "--name", container]
        for k, v in labels.items():
            run += ["--label", f"{k}={v}"]
        run += network_args
        run += self.security(c)
        res = c.get("resources") or {}
        limits = res.get("limits") or {}
        if "memory" in limits:
            mem = int(parse_quantity(limits["memory"]))
            run += ["--memory", str(mem), "--memory-swap", str(mem)]
        if "cpu" in limits:
            run += ["--cpus", f"{parse_quantity(limits['cpu']):.3f}"]
        grace = self.spec.get("terminationGracePeriodSeconds", 30)
        run += ["--stop-timeout", str(int(grace))]
        if not init:
            run += ["--restart", restart]
        if c.get("workingDir"):
            run += ["--workdir", c["workingDir"]]
        run += self.mounts(c, volumes)
        # Env: single-line values through a file (kept off the command line), others through the CLI's env.
        env_file = os.path.join(self.state_dir, "pods", self.name, f"{container}.env")
        os.makedirs(os.path.dirname(env_file), exist_ok=True)
        cli_env = dict(os.environ)
        with open(os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            for k, v in env.items():
                if "\n" in v or "\r" in v or "\0" in v:
                    if k in ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "PATH", "HOME"):
                        raise Unsupported(f"{where}: multi-line env {k}")
                    cli_env[k] = v
                    run += ["--env", k]
                else:
                    f.write(f"{k}={v}\n")
        run += ["--env-file", env_file]
        command = [expand(str(x), env) for x in c.get("command") or []]
        args = [expand(str(x), env) for x in c.get("args") or []]
        if command:
            run += ["--entrypoint", command[0], image] + command[1:] + args
        else:
            run += [image] + args
        return run, cli_env

    def network_args(self, with_aliases):
        net = ["--network", self.args.network, "--ip", self.ip, "--hostname", self.name,
               "--dns", self.args.gateway, "--dns-option", "ndots:5"]
        for d in (f"{self.ns.namespace}.svc.cluster.local", "svc.cluster.local", "cluster.local"):
            net += ["--dns-search", d]
        if with_aliases:
            for alias in self.aliases():
                net += ["--network-alias", alias]
        return net

    def aliases(self):
        return self.ns.service_aliases(self.labels, self.name, self.statefulset_service)

    def restart_policy(self, default):
        policy = self.spec.get("restartPolicy", default)
        return {"Always": "unless-stopped", "OnFailure": "on-failure", "Never": "no"}[policy]

    def plan(self, restart_default="Always"):
        """Check everything and build every `docker run` (volumes are prepared); nothing starts yet."""
        volumes = self.volume_dirs()
        self.restart = "no" if self.args.no_restart else self.restart_policy(restart_default)
        self.steps = []
        for c, name in zip(self.spec.get("initContainers") or [], self.init_containers):
            run, cli_env = self.docker_args(c, name, volumes, self.env(c), self.network_args(False), "no", init=True)
            self.steps.append(("init", c["name"], name, run, cli_env))
        for i, (c, name) in enumerate(zip(self.spec["containers"], self.containers)):
            net = self.network_args(True) if i == 0 else ["--network", f"container:{self.name}"]
            run, cli_env = self.docker_args(c, name, volumes, self.env(c), net, self.restart)
            self.steps.append(("main", c["name"], name, run, cli_env))

    def start(self):
        """Run the init containers one at a time to completion, then start the pod's containers."""
        docker = self.args.docker
        for kind, cname, name, run, cli_env in self.steps:
            docker.run("rm", "-f", name, check=False)
            docker.run(*run, env=cli_env)
            if kind == "init":
                code = docker.run("wait", name).stdout.strip()
                if code != "0":
                    logs = docker.logs_tail(name, 60)
                    raise RuntimeError(f"{self.name}: init container {cname} exited {code}:\n{logs}")
                if getattr(self.args, "print_init_logs", False):
                    logs = docker.run("logs", name, check=False)
                    sys.stdout.write(logs.stdout)
                    sys.stderr.write(logs.stderr)
                docker.run("rm", name, check=False)

    def record(self, ready):
        return {"kind": self.owner_kind, "owner": self.owner, "containers": self.containers,
                "init_containers": self.init_containers, "ip": self.ip,
                "hostname": self.name, "ports": self.ports(), "aliases": self.aliases(), "labels": self.labels,
                "ready": ready}
