#!/usr/bin/env python3
"""Offline checks of the Strata Helm chart (helm/strata), without a cluster.

    source dev/helm.sh; strata_check_chart                # all checks (helm, helm4, kubernetes-validate installed)
    python dev/check_chart.py --helm H --helm4 H4 --validate KV helm/strata
    python dev/check_chart.py --self-test                 # only: the pod walker finds planted problems

Checks, one output line each, every failure collected (exit status 1 if any):
  lint      `helm lint --strict` (helm 3 and 4) without values and with each ci/*.yaml
  validate  each ci/*.yaml rendered by `helm template` and validated by kubernetes-validate --strict against
            Kubernetes 1.29.0 and the newest bundled schema version; CRD kinds (KEDA's ScaledObject) are skipped
            by name, any other kind without a schema fails
  pods      every pod spec rendered (Deployments, helm test pods, ...) meets Pod Security "restricted", has a
            read-only root filesystem, cpu/memory requests and limits, probes on long-running containers, pinned
            images, no literal credentials in env or ConfigMaps, sized emptyDirs; no Secret carries data; no token
            is mounted
  netpol    the NetworkPolicies allow exactly the traffic Strata needs (a small evaluator over pod labels)
  install   `helm4 install --dry-run=client` for each ci/*.yaml
  bad       each tests-bad/*.yaml fails `helm template` (helm 3 and 4) with its `# expect:` text in the error
  schema    values.schema.json is draft-07, has only local $refs, closes every object it defines, and rejects
            malformed values
The walker's own self-test runs first, so a walker that can no longer fail is itself a failure.
"""
import os
import sys

# The implementation is the chartcheck package next to this file (dev/chartcheck/: one module per concept).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chartcheck.cli import main  # noqa: E402  (needs the path above)

if __name__ == "__main__":
    sys.exit(main(__doc__))
