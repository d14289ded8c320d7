"""The docker CLI, and the user-defined bridge network the pods live on.

Guarantees: Docker.run raises RuntimeError on a failed command (unless check=False), with the tail of stderr;
ensure_network creates the network with the requested subnet (gateway: its first host) or verifies an existing
one has that subnet, and returns whether it created it; used_ips lists the addresses taken on the network.
"""
import ipaddress
import subprocess


class Docker:
    def __init__(self, binary):
        self.binary = binary

    def run(self, *args, check=True, capture=True, env=None, timeout=None):
        proc = subprocess.run([self.binary, *args], capture_output=capture, text=True, env=env, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} ...: exit {proc.returncode}: "
                               f"{(proc.stderr or '').strip()[-2000:]}")
        return proc

    def inspect(self, name, fmt):
        proc = self.run("inspect", "-f", fmt, name, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def logs_tail(self, name, lines=40):
        proc = self.run("logs", "--tail", str(lines), name, check=False)
        return (proc.stdout or "") + (proc.stderr or "")


def ensure_network(docker, name, subnet):
    current = docker.run("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", name, check=False)
    if current.returncode == 0:
        if current.stdout.strip() != subnet:
            raise RuntimeError(f"network {name} exists with subnet {current.stdout.strip()}, not {subnet}")
        return False
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    docker.run("network", "create", "--driver", "bridge", "--subnet", subnet, "--gateway", gateway,
               "--label", "strata.test=1", name)
    return True


def used_ips(docker, network):
    out = docker.run("network", "inspect", "-f", "{{range .Containers}}{{.IPv4Address}} {{end}}", network).stdout
    return {ip.split("/")[0] for ip in out.split()}

