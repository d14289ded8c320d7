"""Checks of the chart's monitoring objects (monitoring.* values), rendered from every ci/*.yaml that enables them.

Guarantees: the PrometheusRule's groups pass `promtool check rules` and the alert unit tests of
dev/chartcheck/alerts-test.yaml (`promtool test rules`: each alert fires on the series it is for and stays quiet
on healthy ones); every metric the rules and the Grafana dashboard query is one Strata records (the catalog in
connectors/src/metrics.rs, with its _bucket/_sum/_count series); the dashboard is valid JSON whose panels all have
queries; the PodMonitor selects the release's pods and scrapes the http port every long-running container
declares. A mixin of CheckerBase.
"""
import json
import os
import re
import shutil
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOG = os.path.join(HERE, "..", "..", "connectors", "src", "metrics.rs")
ALERT_TESTS = os.path.join(HERE, "alerts-test.yaml")


def catalog():
    """Every series name the catalog allows: families, counters' samples, histograms' series."""
    with open(CATALOG) as f:
        text = f.read()
    names = set()
    # rustfmt may break a long family!(...) over lines: whitespace is anything.
    for name, kind in re.findall(r'family!\(\s*(\w+),\s*(\w+),', text):
        value = re.search(rf'pub const {name}: &str = "([a-z_]+)";', text).group(1)
        names.add(value)
        if kind == "Histogram":
            names.update(value + s for s in ("_bucket", "_sum", "_count"))
    return names


def queried(expr):
    """The strata_ series an expression reads (`strata_job` is a label, not a series)."""
    return set(re.findall(r"\b(strata_[a-z_]+)", expr)) - {"strata_job"}


class MonitoringChecks:
    """The PodMonitor, PrometheusRule and dashboard of ci value sets that enable them (mixin)."""

    def check_monitoring(self, ci):
        known = catalog()
        seen = False
        for f in ci:
            rc, out, err = self.template(self.args.helm, f)
            if rc != 0:
                continue  # reported by the rendered checks
            docs = [d for d in yaml.safe_load_all(out) if d]
            rel = self.rel(f)
            for d in docs:
                if d["kind"] == "PrometheusRule":
                    seen = True
                    self.check_rules(rel, d, known)
                elif d["kind"] == "PodMonitor":
                    self.report(f"PodMonitor scrapes every Strata pod's http port: {rel}", pod_monitor(d, docs))
                elif d["kind"] == "ConfigMap" and "strata.json" in d.get("data", {}):
                    self.report(f"Grafana dashboard: valid, every query a Strata metric: {rel}",
                                dashboard(d["data"]["strata.json"], known))
        if not seen:
            self.report("a ci value set renders the PrometheusRule", "none does (ci/monitoring-values.yaml?)")

    def check_rules(self, rel, rule, known):
        promtool = shutil.which("promtool")
        if not promtool:
            self.report("promtool", "not installed (Debian's prometheus package; dev/test.sh installs it)")
            return
        problems = []
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                unknown = queried(r["expr"]) - known
                if unknown:
                    problems.append(f"{r.get('alert')}: queries {sorted(unknown)}, which Strata does not record")
        self.report(f"alert rules query only Strata's metrics: {rel}", problems)
        with tempfile.TemporaryDirectory() as tmp:
            rules = os.path.join(tmp, "strata-rules.yaml")
            with open(rules, "w") as out:
                yaml.safe_dump({"groups": rule["spec"]["groups"]}, out, sort_keys=False)
            rc, out, err = self.run([promtool, "check", "rules", rules])
            self.report(f"promtool check rules: {rel}", None if rc == 0 else f"{out}{err}")
            shutil.copy(ALERT_TESTS, os.path.join(tmp, "alerts-test.yaml"))
            rc, out, err = self.run([promtool, "test", "rules", os.path.join(tmp, "alerts-test.yaml")])
            self.report(f"promtool test rules (alerts fire when they should, only then): {rel}",
                        None if rc == 0 else f"{out}{err}")


def pod_monitor(monitor, docs):
    problems = []
    selector = monitor["spec"]["selector"]["matchLabels"]
    pods = [d for d in docs if d["kind"] == "Deployment"]
    for dep in pods:
        labels = dep["spec"]["template"]["metadata"]["labels"]
        name = dep["metadata"]["name"]
        if any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"Deployment/{name}: its pods are not selected")
        ports = {p.get("name") for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        if "http" not in ports:
            problems.append(f"Deployment/{name}: no port named http")
    for ep in monitor["spec"]["podMetricsEndpoints"]:
        if ep.get("port") != "http" or ep.get("path") != "/metrics":
            problems.append(f"endpoint {ep}: not the http port's /metrics")
    if not pods:
        problems.append("no Deployment rendered")
    return problems


def dashboard(text, known):
    try:
        board = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"not JSON: {e}"]
    problems = []
    for panel in board.get("panels", []):
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"panel {panel.get('title')}: no query")
        for t in targets:
            unknown = queried(t.get("expr", "")) - known
            if unknown:
                problems.append(f"panel {panel.get('title')}: queries {sorted(unknown)}, not Strata metrics")
    if not board.get("panels"):
        problems.append("no panels")
    return problems
