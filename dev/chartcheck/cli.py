"""Checker (every check, in order, and the summary) and check_chart's command line.

Guarantees: the walker's self-test runs first; the tools are checked to be executables before any helm run; then
lint, the rendered checks, the monitoring objects, install, bad values and the schema, each reporting one line per check; the summary is
"all N checks passed" (exit 0) or "K check(s) failed, N passed:" with the failed names (exit 1). --self-test runs
only the self-test; without it --helm, --helm4, --validate and CHART are required.
"""
import argparse
import os

from .badvalues import BadValues
from .base import CheckerBase
from .helmruns import HelmRuns
from .monitoring import MonitoringChecks
from .rendered import RenderedChecks
from .schema import SchemaChecks
from .selftest import self_test


class Checker(CheckerBase, HelmRuns, RenderedChecks, MonitoringChecks, BadValues, SchemaChecks):
    """All checks of one chart."""

    def main(self):
        self.report("walker self-test (a bad pod is caught, a good one passes)", self_test())
        for tool in (self.args.helm, self.args.helm4, self.args.validate):
            if not (tool and os.access(tool, os.X_OK)):
                self.report(f"tool {tool}", "not an executable (source dev/helm.sh for strata_helm, strata_helm4, "
                                            "strata_kubernetes_validate)")
                return 1
        ci = self.ci_files()
        self.check_lint(ci)
        self.check_rendered(ci)
        self.check_monitoring(ci)
        self.check_install(ci)
        self.check_bad()
        self.check_schema(ci)
        print()
        if self.failures:
            print(f"{len(self.failures)} check(s) failed, {self.passed} passed:")
            for f in self.failures:
                print(f"  - {f}")
            return 1
        print(f"all {self.passed} checks passed")
        return 0


def main(doc):
    """Run the command line; `doc` is the entry point's docstring (description and epilog of --help)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    ap.add_argument("--helm", help="helm 3 binary (strata_helm)")
    ap.add_argument("--helm4", help="helm 4 binary (strata_helm4)")
    ap.add_argument("--validate", help="kubernetes-validate executable (strata_kubernetes_validate)")
    ap.add_argument("--self-test", action="store_true", help="only run the walker's self-test")
    ap.add_argument("chart", nargs="?", help="the chart directory (helm/strata)")
    args = ap.parse_args()
    if args.self_test:
        failures = self_test()
        for f in failures:
            print(f"FAIL {f}")
        print("walker self-test: " + ("failed" if failures else "ok (every planted problem reported, the good pod "
                                                                "passes)"))
        return 1 if failures else 0
    if not (args.chart and args.helm and args.helm4 and args.validate):
        ap.error("--helm, --helm4, --validate and CHART are required (or --self-test)")
    return Checker(args).main()
