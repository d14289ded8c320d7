"""Checks of values.schema.json.

Guarantees: it loads, is draft-07, has only local $refs that resolve, and closes every object with properties
(additionalProperties: false); the chart renders with the default ci values under it; and each of a list of
malformed values is rejected with an error naming the offending key. A mixin of CheckerBase (self.args,
self.chart, self.template, self.report, self.rel).
"""
import json
import os


class SchemaChecks:
    """values.schema.json (mixin)."""

    def check_schema(self, ci):
        path = os.path.join(self.chart, "values.schema.json")
        try:
            with open(path) as f:
                schema = json.load(f)
        except (OSError, ValueError) as e:
            self.report("values.schema.json loads", str(e))
            return
        problems = []
        if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
            problems.append(f"$schema is {schema.get('$schema')!r}, not draft-07")

        def walk(node, where):
            if isinstance(node, dict):
                ref = node.get("$ref")
                if ref is not None and not str(ref).startswith("#"):
                    problems.append(f"{where}: $ref {ref!r} is not local")
                if ref is not None and str(ref).startswith("#/"):
                    target = schema
                    for part in str(ref)[2:].split("/"):
                        target = target.get(part) if isinstance(target, dict) else None
                    if target is None:
                        problems.append(f"{where}: $ref {ref!r} points nowhere")
                if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") \
                        is not False:
                    problems.append(f"{where}: an object with properties but without additionalProperties: false")
                for k, v in node.items():
                    walk(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}/{i}")
        walk(schema, "#")
        self.report("values.schema.json: draft-07, local $refs only, closed objects", problems)
        base = next((f for f in ci if os.path.basename(f).startswith("default")), ci[0] if ci else None)
        rc, _, err = self.template(self.args.helm, base)
        self.report(f"schema accepts {self.rel(base) if base else 'values.yaml'}", None if rc == 0 else err)
        malformed = [
            (["--set", "executor.replicas=two"], "replicas"),
            (["--set", "executor.replicas=0"], "replicas"),
            (["--set-string", "tls.enabled=yes"], "enabled"),
            (["--set", "config.logFormat=xml"], "logFormat"),
            (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
            (["--set", "executor.resources.requests.cpu=lots"], "cpu"),
            (["--set", "executor.workDir.sizeLimit=20GB"], "sizeLimit"),
            (["--set", "networkPolicy.enabled=1"], "enabled"),
            (["--set", "scheduler.tmpSizeLimit=null"], "tmpSizeLimit"),
            (["--set", "schedule.jobs.nightly\\.txt=SELECT 1"], "nightly.txt"),
            (["--set", "executor.securityContext.privileged=true"], "securityContext"),
            (["--set", "podSecurityContext.runAsUser=0"], "podSecurityContext"),
        ]
        for extra, word in malformed:
            rc, _, err = self.template(self.args.helm, base, extra)
            problems = []
            if rc == 0:
                problems.append("accepted")
            elif word not in err:
                problems.append(f"the error does not name {word!r}: {err.strip()}")
            self.report(f"schema rejects {' '.join(extra[1:])}", problems)
