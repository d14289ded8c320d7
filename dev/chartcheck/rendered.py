"""Checks of what each ci/*.yaml renders: schemas, the pod walker, the helm test hook, network policies.

Guarantees: each ci/*.yaml renders something with helm 3; the objects validate with kubernetes-validate --strict
against Kubernetes 1.29.0 and the newest bundled version (CRD_KINDS skipped by name and listed; any other kind
without a schema fails); the pod walker finds nothing; a helm test Pod with the hook-delete policies and the
strata.io/client=true label is rendered; the NetworkPolicies pass the connectivity matrix. A mixin of CheckerBase
(self.args, self.run, self.template, self.report, self.rel).
"""
import os
import re
import sys
import tempfile

import yaml

from .netpol import check_network
from .podsecurity import check_objects

# Custom resources: no schema offline. Anything else without a schema is an error.
CRD_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


class RenderedChecks:
    """Checks of the rendered ci value sets (mixin)."""

    def newest_kubernetes(self):
        """The newest Kubernetes version whose schemas kubernetes-validate bundles."""
        with open(self.args.validate) as f:
            shebang = f.readline()
        python = shebang[2:].strip() if shebang.startswith("#!") else sys.executable
        rc, out, _ = self.run([python, "-c", "import kubernetes_validate, os; "
                                             "print(os.path.dirname(kubernetes_validate.__file__))"])
        versions = []
        if rc == 0:
            data = os.path.join(out.strip(), "kubernetes-json-schema")
            for d in os.listdir(data) if os.path.isdir(data) else []:
                m = re.match(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$", d)
                if m:
                    versions.append(tuple(int(x) for x in m.groups()))
        if not versions:
            _, out, _ = self.run([self.args.validate, "--help"])
            m = re.search(r"Defaults to (\d+\.\d+\.\d+)", out.replace("\n", " "))
            if m:
                return m.group(1)
            return None
        return "%d.%d.%d" % max(versions)

    def check_rendered(self, ci):
        newest = self.newest_kubernetes()
        if not newest:
            self.report("kubernetes-validate bundled versions", "cannot find the newest bundled version")
        versions = ["1.29.0"] + ([newest] if newest and newest != "1.29.0" else [])
        for f in ci:
            rel = self.rel(f)
            rc, out, err = self.template(self.args.helm, f)
            if rc != 0:
                self.report(f"template {rel}", f"exit {rc}\n{err}")
                continue
            docs = [d for d in yaml.safe_load_all(out) if d]
            with open(f) as vf:
                values = yaml.safe_load(vf) or {}
            kinds = sorted({f"{d.get('kind')}" for d in docs})
            self.report(f"template {rel} ({len(docs)} objects: {', '.join(kinds)})",
                        None if docs else "nothing rendered")
            # Schema validation, CRDs skipped by name.
            plain = [d for d in docs if (d.get("apiVersion"), d.get("kind")) not in CRD_KINDS]
            skipped = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if d not in plain]
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
                yaml.safe_dump_all(plain, tmp, sort_keys=False)
            try:
                for v in versions:
                    rc, vout, verr = self.run([self.args.validate, "-k", v, "--strict", "--quiet", tmp.name])
                    note = f" (skipped CRDs: {', '.join(skipped)})" if skipped else ""
                    self.report(f"kubernetes-validate {v} --strict {rel}{note}",
                                None if rc == 0 and not (vout + verr).strip() else f"exit {rc}\n{vout}{verr}")
            finally:
                os.unlink(tmp.name)
            self.report(f"pod security, resources, probes, images, credentials: {rel}", check_objects(docs))
            self.check_hooks(rel, docs)
            self.report(f"network policies: {rel}", check_network(docs, values))

    def check_hooks(self, rel, docs):
        """The helm test pod is there (when tests are on), with the hook annotations."""
        tests = [d for d in docs if (d.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook") == "test"]
        problems = []
        for t in tests:
            ann = t["metadata"]["annotations"]
            pol = set((ann.get("helm.sh/hook-delete-policy") or "").split(","))
            if not {"before-hook-creation", "hook-succeeded"} <= pol:
                problems.append(f"{t['kind']}/{t['metadata']['name']}: hook-delete-policy is {pol}")
            if t["kind"] != "Pod":
                problems.append(f"{t['kind']}/{t['metadata']['name']}: a test hook that is not a Pod")
            elif t["metadata"].get("labels", {}).get("strata.io/client") != "true":
                problems.append(f"Pod/{t['metadata']['name']}: no strata.io/client=true label")
        if not tests:
            problems.append("no helm test pod rendered")
        self.report(f"helm test hook: {rel}", problems)
