"""kube_play's command line: up, run-test, down, dns-stub; returns the process's exit status.

Guarantees: the arguments and defaults of dev/kube_play.py; Unsupported and RuntimeError become
"kube_play: error: ..." on stderr and exit status 2; run-test returns the test's exit code.
"""
import argparse
import os

from .commands import cmd_down, cmd_run_test, cmd_up
from .dns import dns_stub, ensure_dns
from .fields import Unsupported, log


def main(doc):
    """Run the command line; `doc` is the entry point's docstring (its first line is the description)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "run-test"):
        p = sub.add_parser(name)
        p.add_argument("--manifests", action="append", required=True, help="rendered YAML (repeatable)")
        p.add_argument("--network", required=True)
        p.add_argument("--subnet", required=True)
        p.add_argument("--image-map", action="append", help="IMAGE=LOCALTAG (repeatable)")
        p.add_argument("--secrets-dir", help="DIR/<secret name>/<key>: the Secrets the chart references")
        p.add_argument("--state", required=True)
        p.add_argument("--namespace", help="default: the manifests' metadata.namespace, else `default`")
        p.add_argument("--timeout", type=float, default=120)
        p.add_argument("--emptydir", choices=("disk", "tmpfs"), default="disk",
                       help="emptyDir without medium: a host directory (default, like the kubelet) or a tmpfs")
        p.add_argument("--no-restart", action="store_true", help="--restart no for every container")
        p.add_argument("--docker-binary", default=os.environ.get("STRATA_KUBE_PLAY_DOCKER", "docker"))
        if name == "up":
            p.add_argument("--only", help="comma-separated workloads (name, -suffix or component label), in order")
        else:
            p.add_argument("--name", required=True, help="the test Pod (or Job) to run")
            p.add_argument("--keep", action="store_true", help="keep the container after it exits")
    p = sub.add_parser("down")
    p.add_argument("--state", required=True)
    p.add_argument("--docker-binary", default=os.environ.get("STRATA_KUBE_PLAY_DOCKER", "docker"))
    p = sub.add_parser("dns-stub")
    p.add_argument("--bind", required=True)
    p.add_argument("--detach", action="store_true",
                   help="start it in the background unless something answers there; print its pid if started")
    args = parser.parse_args()
    try:
        if args.command == "up":
            return cmd_up(args)
        if args.command == "run-test":
            return cmd_run_test(args)
        if args.command == "down":
            return cmd_down(args)
        if args.command == "dns-stub":
            if args.detach:
                pid = ensure_dns(args.bind)
                if pid:
                    print(pid)
            else:
                dns_stub(args.bind)
    except (Unsupported, RuntimeError) as e:
        log(f"error: {e}")
        return 2
    return 0
