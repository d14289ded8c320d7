"""The state file (STATE.json, STATE.d/) and what every command that starts pods needs first.

Guarantees: save_state replaces the file atomically; load_state of a missing file is an empty state; prepare()
resolves the arguments (docker, --image-map, the gateway, STATE.d), loads the manifests, makes sure the network
and the DNS server exist, and records in the state what it created (so `down` removes exactly that);
ip_allocator hands out free addresses of the subnet from host 10 up, never the gateway or one in use.
"""
import ipaddress
import json
import os

from .dns import ensure_dns
from .docker import Docker, ensure_network, used_ips
from .fields import log
from .namespace import Namespace, load_docs


def load_state(path):
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"pods": {}, "created": {}}


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def prepare(args):
    args.docker = Docker(args.docker_binary)
    args.image_map = dict(m.split("=", 1) for m in args.image_map or [])
    args.gateway = str(next(ipaddress.ip_network(args.subnet).hosts()))
    args.state_dir = os.path.splitext(os.path.abspath(args.state))[0] + ".d"
    os.makedirs(args.state_dir, exist_ok=True)
    ns = Namespace(load_docs(args.manifests), args.secrets_dir, args.namespace)
    for note in ns.notes:
        log(f"note: {note}")
    state = load_state(args.state)
    state.setdefault("created", {})
    state.update({"network": args.network, "subnet": args.subnet, "gateway": args.gateway, "namespace": ns.namespace,
                  "state_dir": args.state_dir})
    if ensure_network(args.docker, args.network, args.subnet):
        state["created"]["network"] = args.network
    pid = ensure_dns(args.gateway)
    if pid:
        state["created"]["dns_pid"] = pid
    save_state(args.state, state)
    return ns, state


def ip_allocator(args):
    taken = used_ips(args.docker, args.network) | {args.gateway}
    net = ipaddress.ip_network(args.subnet)
    def allocate():
        for host in net.hosts():
            ip = str(host)
            if int(host) - int(net.network_address) >= 10 and ip not in taken:
                taken.add(ip)
                return ip
        raise RuntimeError(f"no free address in {args.subnet}")
    return allocate
