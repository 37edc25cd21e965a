import Accounts
import Crypto
import Foundation
import Logging
import PortcullisServer
import PortcullisTesting
import SQLStore
import Synchronization
import Testing
import WebAuthn

/// Records deliveries, answering with the statuses it is given in turn.
final class RecordingTransport: WebhookTransport {
    struct Delivery: Sendable { let url: String; let headers: [String: String]; let body: [UInt8] }
    private let state = Mutex<(deliveries: [Delivery], statuses: [Int])>(([], []))

    init(statuses: [Int] = []) { state.withLock { $0.statuses = statuses } }

    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        state.withLock { state in
            state.deliveries.append(Delivery(url: url, headers: Dictionary(uniqueKeysWithValues: headers), body: body))
            return state.statuses.isEmpty ? 200 : state.statuses.removeFirst()
        }
    }

    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
}

@Suite(.serialized) struct NotificationTests {
    static let secretBytes = Array(repeating: UInt8(42), count: 32)
    static let secret = "whsec_" + Data(secretBytes).base64EncodedString()

    /// Runs `body` on an in-memory store and on a fresh SQLite store (closed afterwards).
    static func withStores(_ body: (String, any AccountStore) async throws -> Void) async throws {
        try await body("memory", MemoryAccountStore())
        let path = NSTemporaryDirectory() + "portcullis-outbox-\(UUID().uuidString).sqlite"
        let backend = try await SQLiteBackend.open(path: path, logger: Logger(label: "test"))
        let sqlite = SQLAccountStore(backend: backend)
        try await sqlite.migrate()
        do { try await body("sqlite", sqlite) } catch {
            try await backend.close()
            throw error
        }
        try await backend.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    static func signUp(_ store: any AccountStore) async throws -> User {
        let user = StoreFixtures.user("nora-\(UUID().uuidString.prefix(6).lowercased())")
        let passkey = StoreFixtures.passkey(for: user)
        let challenge = StoreFixtures.challenge(.signup, pending: user)
        try await store.saveChallenge(challenge)
        try await store.createUser(user, passkey: passkey, session: StoreFixtures.session(for: user, passkey: passkey),
                                   event: StoreFixtures.event("signup", for: user), inviteHash: nil, challenge: challenge.challenge, now: FixedClock.now)
        return user
    }

    @Test func deliveriesAreSignedAndSentOnce() async throws {
        try await Self.withStores { name, store in
            let user = try await Self.signUp(store)
            let transport = RecordingTransport()
            let clock = MutableClock(FixedClock.now.addingTimeInterval(1))
            let dispatcher = NotificationDispatcher(
                store: store, urls: ["https://hooks.example/a", "https://hooks.example/b"], signer: try #require(WebhookSigner(secret: Self.secret)),
                transport: transport, logger: Logger(label: "test"), clock: { clock.now })
            #expect(try await dispatcher.deliverDue() == 1, "\(name)")
            #expect(transport.deliveries.map(\.url) == ["https://hooks.example/a", "https://hooks.example/b"])
            let delivery = try #require(transport.deliveries.first)
            let id = try #require(delivery.headers["webhook-id"])
            let timestamp = try #require(delivery.headers["webhook-timestamp"])
            let expected = Data(HMAC<SHA256>.authenticationCode(for: Array("\(id).\(timestamp).".utf8) + delivery.body, using: SymmetricKey(data: Self.secretBytes))).base64EncodedString()
            #expect(delivery.headers["webhook-signature"] == "v1," + expected)
            let payload = try #require(try StrictJSON.parse(delivery.body).object)
            #expect(payload["type"] == .string("portcullis.signup"))
            #expect(payload["data"]?.object?["username"] == .string(user.username))
            #expect(String(decoding: delivery.body, as: UTF8.self).contains("token") == false)
            // Delivered: nothing more to send.
            clock.advance(by: 120)
            #expect(try await dispatcher.deliverDue() == 0, "\(name)")
        }
    }

    @Test func failedDeliveriesAreRetriedWithBackoff() async throws {
        try await Self.withStores { name, store in
            _ = try await Self.signUp(store)
            let transport = RecordingTransport(statuses: [500, 503])
            let clock = MutableClock(FixedClock.now.addingTimeInterval(1))
            let dispatcher = NotificationDispatcher(
                store: store, urls: ["https://hooks.example/a"], signer: try #require(WebhookSigner(secret: Self.secret)),
                transport: transport, logger: Logger(label: "test"), clock: { clock.now })
            #expect(try await dispatcher.deliverDue() == 1)  // 500: retry in 2 s
            #expect(try await dispatcher.deliverDue() == 0)
            clock.advance(by: 3)
            #expect(try await dispatcher.deliverDue() == 1)  // 503: retry in 4 s
            clock.advance(by: 3)
            #expect(try await dispatcher.deliverDue() == 0, "\(name)")
            clock.advance(by: 2)
            #expect(try await dispatcher.deliverDue() == 1)  // 200
            clock.advance(by: 3600)
            #expect(try await dispatcher.deliverDue() == 0)
            #expect(transport.deliveries.count == 3)
            // Every attempt carries the same event id, so receivers can drop duplicates.
            #expect(Set(transport.deliveries.compactMap { $0.headers["webhook-id"] }).count == 1)
        }
    }

    @Test func aBadSecretIsRefused() {
        #expect(WebhookSigner(secret: "whsec_short") == nil)
        #expect(WebhookSigner(secret: "plain-secret") == nil)
        #expect(WebhookSigner(secret: Self.secret) != nil)
    }
}
