"""Value sets that must fail: each tests-bad/*.yaml.

Guarantees: every tests-bad/*.yaml names its expected error in `# expect: TEXT` lines (a file without one fails),
and `helm template` with it fails under helm 3 and helm 4 with each expected text in the (whitespace-flattened)
error; there is at least one such file. A mixin of CheckerBase (self.args, self.chart, self.template,
self.report, self.rel).
"""
import glob
import os
import re


class BadValues:
    """The must-fail value sets (mixin)."""

    def check_bad(self):
        files = sorted(glob.glob(os.path.join(self.chart, "tests-bad", "*.yaml")))
        if not files:
            self.report("tests-bad value sets exist", f"no {self.chart}/tests-bad/*.yaml")
        for f in files:
            with open(f) as fh:
                expects = re.findall(r"^#\s*expect:\s*(.+?)\s*$", fh.read(), re.M)
            rel = self.rel(f)
            if not expects:
                self.report(f"must fail: {rel}", "no `# expect: <error text>` line")
                continue
            for helm, label in ((self.args.helm, "helm"), (self.args.helm4, "helm4")):
                rc, out, err = self.template(helm, f)
                problems = []
                if rc == 0:
                    problems.append("helm template succeeded")
                else:
                    flat = " ".join(err.split())
                    problems += [f"the error does not contain {e!r}:\n{err.strip()}" for e in expects
                                 if e not in flat]
                msg = " ".join(err.split())[:160]
                self.report(f"must fail ({label}): {rel} -> {msg}", problems)
