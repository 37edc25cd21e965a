import Foundation
import Prometheus
import Synchronization

/// Prometheus metrics of one server process: ceremonies by kind and outcome, their latency, and the
/// number of live sessions (read from the store at scrape time, so it is the deployment's count).
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    static let buckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1)]
    static var ceremonies: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "portcullis", metricName: "ceremonies", unitName: "total", helpText: "Passkey ceremony steps by kind and outcome.") }
    static var latency: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "portcullis", metricName: "ceremony_duration", unitName: "seconds", helpText: "Latency of passkey ceremony steps.") }
    static var sessions: MetricNameDescriptor { MetricNameDescriptor(namespace: "portcullis", metricName: "sessions", unitName: "", helpText: "Live sessions in the store.") }

    /// The registry's counters and histograms, kept once made: asking the registry on every request
    /// rebuilt the metric's name and label set each time.
    private let counters = Mutex<[String: Counter]>([:])
    private let histograms = Mutex<[String: DurationHistogram]>([:])

    public init() {}

    /// Records one ceremony step: `kind` like `login_verify`, `outcome` `success` or a problem code.
    func record(kind: String, outcome: String, duration: Duration) {
        let key = kind + "\u{0}" + outcome
        let counter = counters.withLock { cache in
            if let known = cache[key] { return known }
            let made = registry.makeCounter(descriptor: Self.ceremonies, labels: [("kind", kind), ("outcome", outcome)])
            cache[key] = made
            return made
        }
        counter.increment()
        let histogram = histograms.withLock { cache in
            if let known = cache[kind] { return known }
            let made = registry.makeDurationHistogram(descriptor: Self.latency, labels: [("kind", kind)], buckets: Self.buckets)
            cache[kind] = made
            return made
        }
        histogram.record(duration)
    }

    /// The exposition text, with the session count set first.
    func exposition(sessions: Int?) -> String {
        if let sessions {
            registry.makeGauge(descriptor: Self.sessions).set(Double(sessions))
        }
        return registry.emitToString()
    }
}
