import Synchronization

/// Runs many callers' requests of one kind as few statements (smart batching). A caller that finds
/// a lane free runs its request alone at once, so a quiet server waits for nothing. Callers that
/// arrive while every lane is busy queue; when a batch ends, the first of them leads the next batch
/// with the others queued behind it (up to `largest`). Under load each round trip, and each
/// statement the database plans, starts and commits, then serves as many callers as arrived during
/// the one before.
///
/// A batch's answers come back in its requests' order. If the batch fails, every caller in it gets
/// the error.
final class Batcher<Request: Sendable, Answer: Sendable>: Sendable {
    /// Runs one batch: one answer per request, in order.
    typealias Run = @Sendable ([Request]) async throws -> [Answer]

    private enum Turn: Sendable {
        case answered(Answer)
        /// Lead a batch of the caller's own request and these.
        case lead([Waiting])
    }

    private struct Waiting: Sendable {
        let request: Request
        let continuation: CheckedContinuation<Turn, any Error>
    }

    private struct State: Sendable {
        var running = 0
        /// Requests waiting for a lane; empty while a lane is free.
        var queue: [Waiting] = []
    }

    private let state = Mutex(State())
    private let lanes: Int
    private let largest: Int
    private let run: Run

    /// A batcher with at most `lanes` batches in flight, each of at most `largest` requests.
    init(lanes: Int, largest: Int, run: @escaping Run) {
        precondition(lanes > 0 && largest > 0, "a batcher needs a lane and room for a request")
        self.lanes = lanes
        self.largest = largest
        self.run = run
    }

    /// Requests waiting for a lane now (for tests and diagnostics).
    var waitingCount: Int { state.withLock { $0.queue.count } }

    /// `request`'s answer, from whichever batch carries it.
    func submit(_ request: Request) async throws -> Answer {
        if takeLane() { return try await lead(request, with: []) }
        let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
            // A lane may have come free in between: then lead a batch of one.
            let free = state.withLock { state -> Bool in
                if state.running < lanes {
                    state.running += 1
                    return true
                }
                state.queue.append(Waiting(request: request, continuation: continuation))
                return false
            }
            if free { continuation.resume(returning: .lead([])) }
        }
        switch turn {
        case .answered(let answer): return answer
        case .lead(let others): return try await lead(request, with: others)
        }
    }

    private func takeLane() -> Bool {
        state.withLock { state in
            guard state.running < lanes else { return false }
            state.running += 1
            return true
        }
    }

    private func lead(_ own: Request, with others: [Waiting]) async throws -> Answer {
        let outcome: Result<[Answer], any Error>
        do {
            // In a task of its own: the leader's cancellation (its client went away) must not end
            // the others' requests, nor leave a statement half-way on a connection they wait for.
            let requests = [own] + others.map(\.request)
            let answers = try await Task { [run] in try await run(requests) }.value
            guard answers.count == others.count + 1 else { throw BatchError.answerCount(answers.count, others.count + 1) }
            outcome = .success(answers)
        } catch {
            outcome = .failure(error)
        }
        handOver()
        switch outcome {
        case .success(let answers):
            for (waiting, answer) in zip(others, answers.dropFirst()) { waiting.continuation.resume(returning: .answered(answer)) }
            return answers[0]
        case .failure(let error):
            for waiting in others { waiting.continuation.resume(throwing: error) }
            throw error
        }
    }

    /// Passes the lane to the first queued caller with the next batch, or frees it.
    private func handOver() {
        let next = state.withLock { state -> (leader: Waiting, others: [Waiting])? in
            guard let leader = state.queue.first else {
                state.running -= 1
                return nil
            }
            let count = min(state.queue.count, largest)
            let others = Array(state.queue[1..<count])
            state.queue.removeFirst(count)
            return (leader, others)
        }
        if let next { next.leader.continuation.resume(returning: .lead(next.others)) }
    }
}

/// A batch's run broke the batcher's contract.
enum BatchError: Error, CustomStringConvertible {
    /// The run answered `given` times for `expected` requests.
    case answerCount(Int, Int)
    /// The database answered a request twice, or not at all.
    case strayRow

    var description: String {
        switch self {
        case .answerCount(let given, let expected): "a batch of \(expected) requests got \(given) answers"
        case .strayRow: "a batch's rows did not answer each request once"
        }
    }
}
