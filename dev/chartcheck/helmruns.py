"""The checks that are plain helm runs: `helm lint --strict` and `helm4 install --dry-run=client`.

Guarantees: lint with helm 3 and helm 4, without values and with each ci/*.yaml, one check each; a client-side
dry-run install with helm 4 for each ci/*.yaml; a non-zero exit is a failure showing helm's output.
A mixin of CheckerBase (self.args, self.chart, self.run, self.report, self.rel).
"""
from .release import NAMESPACE, RELEASE


class HelmRuns:
    """Lint and dry-run install (mixin)."""

    def check_lint(self, ci):
        for helm, label in ((self.args.helm, "helm"), (self.args.helm4, "helm4")):
            for f in [None] + ci:
                cmd = [helm, "lint", "--strict", self.chart, "--namespace", NAMESPACE]
                if f:
                    cmd += ["-f", f]
                rc, out, err = self.run(cmd)
                name = f"lint ({label}) {self.rel(f) if f else 'values.yaml only'}"
                self.report(name, None if rc == 0 else f"exit {rc}\n{out}{err}")

    def check_install(self, ci):
        for f in ci:
            cmd = [self.args.helm4, "install", RELEASE, self.chart, "--dry-run=client", "--namespace", NAMESPACE,
                   "-f", f]
            rc, out, err = self.run(cmd)
            self.report(f"helm4 install --dry-run=client {self.rel(f)}", None if rc == 0 else f"exit {rc}\n{err}")
