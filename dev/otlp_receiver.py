"""The receiving end of OTLP/HTTP traces for tests: decodes each export with the OpenTelemetry project's own
protobuf definitions (`opentelemetry-proto`) and appends one JSON line per span to a file.

    python dev/otlp_receiver.py PORT OUT.jsonl      # serves 127.0.0.1:PORT until killed

A span line: {"trace", "span", "parent", "name", "service", "attributes": {key: value}}. A body that does not
decode is answered 400 and written as {"error": ...}, so a test sees it.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

port, out = int(sys.argv[1]), sys.argv[2]


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        lines = []
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"unexpected path {self.path}")
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                attrs = {a.key: value(a.value) for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        lines.append({
                            "trace": span.trace_id.hex(),
                            "span": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "name": span.name,
                            "service": attrs.get("service.name"),
                            "attributes": {a.key: value(a.value) for a in span.attributes},
                        })
            status = 200
        except Exception as e:  # noqa: BLE001 - any decoding failure is the test's finding
            lines.append({"error": str(e)})
            status = 400
        with open(out, "a", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
