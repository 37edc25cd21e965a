import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bounds how long `serve` takes to stop once asked to (SIGTERM or SIGINT).
///
/// A stop drains requests in flight, so a client that stalls, or a task that never ends, could keep
/// the process alive until something kills it without a word. The deadline runs on Dispatch's own
/// threads, apart from the event loops that serve requests and run Swift's tasks, so that it fires
/// even when every one of those is stuck; it logs that the stop did not finish and exits with
/// ``exitStatus``.
enum StopDeadline {
    /// The exit status of a stop that did not finish in time (`http.stop_timeout`).
    static let exitStatus: Int32 = 7

    /// Runs `body` (the server), and, from the first SIGTERM or SIGINT on, gives it `timeout`
    /// seconds to return.
    static func run<T>(timeout: TimeInterval, logger: Logger, _ body: () async throws -> T) async throws -> T {
        let queue = DispatchQueue(label: "portcullis.stop-deadline")
        let deadline = DispatchWorkItem {
            logger.critical("stop did not finish", metadata: ["stop_timeout_s": "\(Int(timeout))"])
            _exit(exitStatus)
        }
        // Should the log line itself hang, the exit still comes.
        let backstop = DispatchWorkItem { _exit(exitStatus) }
        let armed = Flag()
        // These sources share each signal with the service group's own (Dispatch delivers a signal
        // to every source for it), which starts the graceful stop.
        let sources = [SIGTERM, SIGINT].map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
            source.setEventHandler {
                guard !armed.isSet, !deadline.isCancelled else { return }
                armed.set()
                queue.asyncAfter(deadline: .now() + timeout, execute: deadline)
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout + 2, execute: backstop)
            }
            source.resume()
            return source
        }
        defer {
            deadline.cancel()
            backstop.cancel()
            sources.forEach { $0.cancel() }
        }
        return try await body()
    }

    /// Set once, by the first signal; read and written only on the deadline's serial queue.
    private final class Flag: @unchecked Sendable {
        private(set) var isSet = false
        func set() { isSet = true }
    }
}
