"""CheckerBase: how checks report and run helm.

Guarantees: report() prints exactly one line per check ("ok   NAME" or "FAIL NAME" followed by its problems
indented five spaces), flushes, and counts passes and failures; run() returns (exit code, stdout, stderr) and never
raises on a failing command; template() renders the chart as release r in namespace strata; ci_files() lists
ci/*.yaml (reporting a failure when there is none).
"""
import glob
import os
import subprocess
import sys

from .release import NAMESPACE, RELEASE


class CheckerBase:
    """The state (args, chart, failures, passes) and helpers every check uses."""

    def __init__(self, args):
        self.args = args
        self.chart = os.path.abspath(args.chart)
        self.failures = []
        self.passed = 0

    def report(self, name, problems):
        if problems is None:
            problems = []
        elif isinstance(problems, str):
            problems = [problems]
        problems = [p for p in problems if p]
        if problems:
            self.failures.append(name)
            print(f"FAIL {name}")
            for p in problems:
                for line in str(p).rstrip().splitlines():
                    print(f"     {line}")
        else:
            self.passed += 1
            print(f"ok   {name}")
        sys.stdout.flush()

    def run(self, cmd, stdin=None):
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    def rel(self, path):
        return os.path.relpath(path)

    def ci_files(self):
        files = sorted(glob.glob(os.path.join(self.chart, "ci", "*.yaml")))
        if not files:
            self.report("ci value sets exist", f"no {self.chart}/ci/*.yaml")
        return files

    def template(self, helm, values_file=None, extra=()):
        cmd = [helm, "template", RELEASE, self.chart, "--namespace", NAMESPACE]
        if values_file:
            cmd += ["-f", values_file]
        return self.run(cmd + list(extra))
