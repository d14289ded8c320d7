"""Parse a Prometheus text exposition with the official Python client's parser and print it as JSON.

    python dev/check_metrics.py FILE      # FILE: a scrape of /metrics, a textfile, or - for stdin

Prints {"families": [{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]}. A text the parser
refuses is an error (non-zero exit) naming the problem. prometheus_client names a counter's family without its
`_total` suffix; its samples keep it.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

path = sys.argv[1]
text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
families = []
for family in text_string_to_metric_families(text):
    families.append(
        {
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
        }
    )
print(json.dumps({"families": families}))
