import Foundation
import Prometheus

/// Prometheus metrics of one server process: ceremonies by kind and outcome, their latency, and the
/// number of live sessions (read from the store at scrape time, so it is the deployment's count).
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let buckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1)]

    public init() {}

    /// Records one ceremony step: `kind` like `login_verify`, `outcome` `success` or a problem code.
    func record(kind: String, outcome: String, duration: Duration) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "portcullis", metricName: "ceremonies_total", helpText: "Passkey ceremony steps by kind and outcome."),
            labels: [("kind", kind), ("outcome", outcome)]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "portcullis", metricName: "ceremony_duration_seconds", helpText: "Latency of passkey ceremony steps."),
            labels: [("kind", kind)], buckets: Self.buckets
        ).record(duration)
    }

    /// The exposition text, with the session count set first.
    func exposition(sessions: Int?) -> String {
        if let sessions {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "portcullis", metricName: "sessions", helpText: "Live sessions in the store."))
                .set(Double(sessions))
        }
        return registry.emitToString()
    }
}
