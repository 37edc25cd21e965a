import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Starts exporting traces when `tracing.otlp_endpoint` is set: makes swift-otel's tracer (OTLP over
/// HTTP, with the standard `OTEL_*` variables applied over this configuration) the process's tracer,
/// and answers the service that batches and exports its spans, to run beside the server. Without an
/// endpoint nothing is set up and no span is made. Once per process: the tracer is process-wide.
public func startTracing(_ configuration: TracingConfiguration, logger: Logger) throws -> (any Service)? {
    guard let url = configuration.tracesURL else { return nil }
    var otel = OTel.Configuration.default
    otel.serviceName = configuration.serviceName
    otel.logs.enabled = false
    otel.metrics.enabled = false
    otel.diagnosticLogger = .custom(logger)
    otel.traces.otlpExporter.endpoint = url
    otel.traces.otlpExporter.protocol = configuration.protocol == "http/json" ? .httpJSON : .httpProtobuf
    let backend = try OTel.makeTracingBackend(configuration: otel)
    InstrumentationSystem.bootstrap(backend.factory)
    return backend.service
}
