import Synchronization
import Testing
@testable import SQLStore

/// The batcher behind PostgreSQL's sign-in statements: who runs when, with whom, and who hears what.
@Suite struct BatcherTests {
    /// A run that records its batches, answers ten times each request, fails any batch holding a
    /// negative request, and waits at `gate` (when given) before answering, saying when it starts.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])
        let started: AsyncStream<Void>
        private let startedContinuation: AsyncStream<Void>.Continuation
        let gate: AsyncStream<Void>?
        private let gateContinuation: AsyncStream<Void>.Continuation?

        init(gated: Bool) {
            (started, startedContinuation) = AsyncStream.makeStream()
            if gated {
                let (stream, continuation) = AsyncStream<Void>.makeStream()
                (gate, gateContinuation) = (stream, continuation)
            } else {
                (gate, gateContinuation) = (nil, nil)
            }
        }

        func run(_ requests: [Int]) async throws -> [Int] {
            batches.withLock { $0.append(requests) }
            startedContinuation.yield()
            if let gate { for await _ in gate { break } }
            try Task.checkCancellation()
            if requests.contains(where: { $0 < 0 }) { throw Poisoned() }
            return requests.map { $0 * 10 }
        }

        /// Lets one waiting batch answer.
        func open() { gateContinuation?.yield() }
    }

    struct Poisoned: Error, Equatable {}

    /// Waits (yielding) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async {
        while !condition() { await Task.yield() }
    }

    static func outcome(_ body: () async throws -> Int) async -> Result<Int, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    @Test func aLoneRequestRunsAtOnceAndAlone() async throws {
        let recorder = Recorder(gated: false)
        let batcher = Batcher<Int, Int>(lanes: 1, largest: 8) { try await recorder.run($0) }
        #expect(try await batcher.submit(7) == 70)
        #expect(try await batcher.submit(8) == 80)
        #expect(recorder.batches.withLock { $0 } == [[7], [8]])
    }

    @Test(arguments: [(largest: 8, sizes: [1, 5]), (largest: 2, sizes: [1, 2, 2, 1])])
    func requestsArrivingDuringABatchGoTogether(largest: Int, sizes: [Int]) async throws {
        let recorder = Recorder(gated: true)
        let batcher = Batcher<Int, Int>(lanes: 1, largest: largest) { try await recorder.run($0) }
        var started = recorder.started.makeAsyncIterator()
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            group.addTask { (0, try await batcher.submit(0)) }
            _ = await started.next()
            for request in 1...5 { group.addTask { (request, try await batcher.submit(request)) } }
            await Self.eventually { batcher.waitingCount == 5 }
            for _ in sizes { recorder.open() }
            var answers: [Int: Int] = [:]
            for try await (request, answer) in group { answers[request] = answer }
            // Each caller hears its own answer, whichever batch carried it.
            #expect(answers == Dictionary(uniqueKeysWithValues: (0...5).map { ($0, $0 * 10) }))
        }
        let batches = recorder.batches.withLock { $0 }
        #expect(batches.map(\.count) == sizes)
        #expect(batches[0] == [0])
        #expect(batches.flatMap { $0 }.sorted() == Array(0...5))
    }

    @Test func aFailedBatchFailsItsOwnCallersOnly() async throws {
        let recorder = Recorder(gated: true)
        let batcher = Batcher<Int, Int>(lanes: 1, largest: 8) { try await recorder.run($0) }
        var started = recorder.started.makeAsyncIterator()
        async let first = batcher.submit(1)
        _ = await started.next()
        async let poisoned = Self.outcome { try await batcher.submit(-1) }
        await Self.eventually { batcher.waitingCount == 1 }
        async let second = Self.outcome { try await batcher.submit(2) }
        await Self.eventually { batcher.waitingCount == 2 }
        recorder.open()
        recorder.open()
        #expect(try await first == 10)
        // -1 and 2 went together: both hear the batch's failure.
        let (poisonedOutcome, secondOutcome) = await (poisoned, second)
        #expect(throws: Poisoned.self) { try poisonedOutcome.get() }
        #expect(throws: Poisoned.self) { try secondOutcome.get() }
        // The batcher goes on.
        async let later = batcher.submit(3)
        recorder.open()
        #expect(try await later == 30)
    }

    @Test func aRunThatAnswersWronglyIsAnError() async throws {
        let batcher = Batcher<Int, Int>(lanes: 1, largest: 8) { _ in [] }
        await #expect(throws: BatchError.self) { try await batcher.submit(1) }
        // The lane was handed back.
        await #expect(throws: BatchError.self) { try await batcher.submit(2) }
    }

    @Test func aCancelledLeaderDoesNotCancelTheBatch() async throws {
        let recorder = Recorder(gated: true)
        let batcher = Batcher<Int, Int>(lanes: 1, largest: 8) { try await recorder.run($0) }
        var started = recorder.started.makeAsyncIterator()
        let leader = Task { try await batcher.submit(1) }
        _ = await started.next()
        async let follower = batcher.submit(2)
        await Self.eventually { batcher.waitingCount == 1 }
        // The leader's client goes away mid-batch: its batch still runs to the end for everyone.
        leader.cancel()
        recorder.open()
        recorder.open()
        #expect(try await leader.value == 10)
        #expect(try await follower == 20)
    }

    @Test(arguments: [1, 2, 4])
    func manyCallersEachHearTheirOwnAnswer(lanes: Int) async throws {
        let largest = 16
        let batches = Mutex<[Int]>([])
        let inFlight = Atomic<Int>(0)
        let mostInFlight = Atomic<Int>(0)
        let batcher = Batcher<Int, Int>(lanes: lanes, largest: largest) { requests in
            let now = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
            mostInFlight.max(now, ordering: .relaxed)
            defer { inFlight.wrappingSubtract(1, ordering: .relaxed) }
            batches.withLock { $0.append(requests.count) }
            for _ in 0..<Int.random(in: 0...3) { await Task.yield() }
            return requests.map { $0 * 10 }
        }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for request in 0..<500 { group.addTask { try await batcher.submit(request) == request * 10 } }
            for try await correct in group { #expect(correct) }
        }
        let sizes = batches.withLock { $0 }
        #expect(sizes.reduce(0, +) == 500)
        #expect(sizes.allSatisfy { $0 >= 1 && $0 <= largest })
        #expect(mostInFlight.load(ordering: .relaxed) <= lanes)
        #expect(batcher.waitingCount == 0)
    }
}
