"""OpenTelemetry traces, received the way an operator's collector receives them: a local OTLP/HTTP
stub takes the spans a server exports (as JSON). Each request is one span named by its route, a
child of the caller's span when the request carries `traceparent`, with the status and request ID,
and with no path, query or header value (they carry codes, tokens and signed links)."""
import base64, http.server, json, secrets, tempfile, threading, time

from conftest import Server, free_port
from softauthn import Browser


class Collector(http.server.ThreadingHTTPServer):
    """Accepts POST /v1/traces (OTLP/HTTP, JSON encoding) and keeps every span with its resource."""

    def __init__(self):
        self.spans, self.lock = [], threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.path == "/v1/traces", self.path
                for resource_spans in body.get("resourceSpans", []):
                    resource = {a["key"]: value(a["value"]) for a in resource_spans.get("resource", {}).get("attributes", [])}
                    for scope in resource_spans.get("scopeSpans", []):
                        for span in scope.get("spans", []):
                            with collector.lock:
                                collector.spans.append((resource, span))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *arguments):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def value(v):
    """An OTLP JSON AnyValue as Python."""
    for kind in ("stringValue", "boolValue", "doubleValue"):
        if kind in v:
            return v[kind]
    if "intValue" in v:
        return int(v["intValue"])
    return v


def hex_id(text):
    """Trace and span IDs: hex in OTLP JSON (base64 from an encoder that does not special-case them)."""
    if all(c in "0123456789abcdefABCDEF" for c in text) and len(text) in (16, 32):
        return text.lower()
    return base64.b64decode(text).hex()


def test_each_request_is_one_span_on_the_collector_joined_to_the_callers_trace():
    collector = Collector()
    directory = tempfile.mkdtemp(prefix="portcullis-trace-")
    server = Server(f"sqlite:{directory}/portcullis.sqlite", extra_env={
        "TRACING_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}", "TRACING_PROTOCOL": "http/json",
        "OTEL_BSP_SCHEDULE_DELAY": "200"})
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    secret_state = "state" + secrets.token_hex(12)
    try:
        person = Browser(server.origin)
        person.http.headers["traceparent"] = f"00-{trace_id}-{parent_id}-01"
        person.sign_up("tracer" + secrets.token_hex(3))
        del person.http.headers["traceparent"]
        # A query that carries a value nobody may see in a span.
        metadata = person.http.get(server.origin + "/.well-known/openid-configuration").json()
        authorize_route = "GET " + metadata["authorization_endpoint"][len(server.origin):]
        person.http.get(metadata["authorization_endpoint"], params={"client_id": "nobody", "state": secret_state}, allow_redirects=False)

        deadline = time.time() + 15
        while time.time() < deadline:
            with collector.lock:
                names = [span["name"] for _, span in collector.spans]
            if "POST /api/v1/signup/verify" in names and authorize_route in names:
                break
            time.sleep(0.2)
    finally:
        server.stop()
        collector.shutdown()

    spans = {span["name"]: (resource, span) for resource, span in collector.spans}
    assert "POST /api/v1/signup/options" in spans and "POST /api/v1/signup/verify" in spans, sorted(spans)
    resource, verify = spans["POST /api/v1/signup/verify"]
    assert resource["service.name"] == "portcullis"
    assert hex_id(verify["traceId"]) == trace_id and hex_id(verify["parentSpanId"]) == parent_id
    attributes = {a["key"]: value(a["value"]) for a in verify["attributes"]}
    assert attributes["http.route"] == "/api/v1/signup/verify" and attributes["http.request.method"] == "POST"
    assert attributes["http.response.status_code"] == 201 and attributes["client.address"] == "127.0.0.1"
    assert len(attributes["http.request.id"]) >= 16

    # Spans of requests without trace context start traces of their own; none holds a query or path value.
    _, authorize = spans[authorize_route]
    assert hex_id(authorize["traceId"]) != trace_id
    everything = json.dumps([span for _, span in collector.spans])
    assert secret_state not in everything and "client_id=" not in everything
