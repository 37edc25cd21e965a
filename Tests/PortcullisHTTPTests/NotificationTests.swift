import Accounts
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Notifications
import PortcullisApp
import PortcullisHTTP
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
                                   event: StoreFixtures.event(.signup, for: user), inviteHash: nil, challenge: challenge.challenge, now: FixedClock.now)
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
            #expect(payload.members.map(\.key) == ["type", "timestamp", "data"])
            #expect(payload["data"]?.object?.members.prefix(4).map(\.key) == ["userId", "username", "ip", "userAgent"])
            #expect(payload["data"]?.object?["userId"] == .string(user.id.uuidString.lowercased()))
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

    static func caseEvent(for user: User) -> SecurityEvent {
        SecurityEvent(id: UUID(), userID: user.id, kind: .recoveryStarted, at: FixedClock.now, ip: "198.51.100.7", userAgent: "Phone/1",
                      detail: ["case": "c0ffee00-0000-0000-0000-000000000001"])
    }

    static func emailDispatcher(_ store: any AccountStore, mailer: SMTPMailer, clock: MutableClock) -> NotificationDispatcher {
        NotificationDispatcher(
            store: store,
            channels: [EmailChannel(store: store, transport: mailer, from: "portcullis@example.org", serviceName: "Portcullis", logger: Logger(label: "test"))],
            logger: Logger(label: "test"), clock: { clock.now },
            links: { event in event.kind == .recoveryStarted ? ["cancelUrl": "http://localhost:8080/recovery/cancel?case=x&sig=y"] : [:] })
    }

    /// Notices go to confirmed addresses only; a new address gets its confirmation link, alone, and
    /// nothing more until it is confirmed (a mistyped address tells a stranger nothing).
    @Test func onlyConfirmedAddressesHearAndANewOneGetsItsLinkAlone() async throws {
        let sink = try await SMTPSink()
        let store = MemoryAccountStore()
        let user = try await Self.signUp(store)
        try await store.saveRecoverySettings(RecoverySettings(userID: user.id, addresses: ["nora@example.com", "typo@example.net"],
                                                              verifiedAddresses: ["nora@example.com"]),
                                             event: Self.caseEvent(for: user))
        try await store.appendEvent(SecurityEvent(id: UUID(), userID: user.id, kind: .addressVerificationSent, at: FixedClock.now, ip: "198.51.100.7",
                                                  userAgent: "Phone/1", detail: ["address": "typo@example.net"]))
        let clock = MutableClock(FixedClock.now.addingTimeInterval(1))
        let dispatcher = NotificationDispatcher(
            store: store,
            channels: [EmailChannel(store: store, transport: SMTPMailer(host: "127.0.0.1", port: sink.port, security: .none), from: "portcullis@example.org",
                                    serviceName: "Portcullis", logger: Logger(label: "test"))],
            logger: Logger(label: "test"), clock: { clock.now },
            links: { event in event.kind == .addressVerificationSent ? ["verifyUrl": "http://localhost:8080/addresses/verify?user=u&sig=s"] : [:] })
        #expect(try await dispatcher.deliverDue() == 3)  // sign-up, recovery notice, confirmation link
        let received = sink.messages
        #expect(received.filter { $0.recipients == ["nora@example.com"] }.count == 2)
        let confirmation = try #require(received.first { $0.recipients == ["typo@example.net"] })
        #expect(received.count == 3)
        #expect(confirmation.data.contains("Subject: Portcullis: Confirm this address for notices about your account"))
        #expect(confirmation.text.contains("http://localhost:8080/addresses/verify?user=u&sig=s"))
        try await sink.close()
    }

    @Test func emailGoesToTheNotificationAddressesThroughSMTP() async throws {
        let sink = try await SMTPSink()
        try await Self.withStores { name, store in
            let before = sink.messages.count
            let user = try await Self.signUp(store)
            let quiet = try await Self.signUp(store)  // no addresses: delivered by sending nothing
            try await store.saveRecoverySettings(RecoverySettings(userID: user.id, addresses: ["nora@example.com", "nora@example.net"],
                                                                  verifiedAddresses: ["nora@example.com", "nora@example.net"]),
                                                 event: Self.caseEvent(for: user))
            let clock = MutableClock(FixedClock.now.addingTimeInterval(1))
            let dispatcher = Self.emailDispatcher(store, mailer: SMTPMailer(host: "127.0.0.1", port: sink.port, security: .none), clock: clock)
            #expect(try await dispatcher.deliverDue() == 3, "\(name)")
            clock.advance(by: 3600)
            #expect(try await dispatcher.deliverDue() == 0, "\(name): all delivered")
            let received = Array(sink.messages.dropFirst(before))
            #expect(received.count == 2)  // the user's sign-up and recovery notice; nothing for the quiet one
            #expect(received.allSatisfy { $0.recipients == ["nora@example.com", "nora@example.net"] && $0.from == "portcullis@example.org" })
            let notice = try #require(received.first { $0.data.contains("Subject: Portcullis: Someone asked to recover your account") })
            #expect(notice.text.contains("http://localhost:8080/recovery/cancel?case=x&sig=y"))
            #expect(notice.text.contains("198.51.100.7"))
            #expect(notice.text.contains(user.username))
            #expect(!notice.text.lowercased().contains("token"))
            _ = quiet
        }
        try await sink.close()
    }

    @Test func routineSignInsAreNotMailedButNewDevicesAre() async throws {
        let sink = try await SMTPSink()
        let store = MemoryAccountStore()
        let user = try await Self.signUp(store)
        try await store.saveRecoverySettings(RecoverySettings(userID: user.id, addresses: ["nora@example.com", "nora@example.net"],
                                                                  verifiedAddresses: ["nora@example.com", "nora@example.net"]),
                                             event: Self.caseEvent(for: user))
        let clock = MutableClock(FixedClock.now.addingTimeInterval(1))
        let dispatcher = Self.emailDispatcher(store, mailer: SMTPMailer(host: "127.0.0.1", port: sink.port, security: .none), clock: clock)
        #expect(try await dispatcher.deliverDue() == 2)
        let before = sink.messages.count
        let events: [(SecurityEvent.Kind, [String: String])] = [
            (.signin, [:]), (.reauthenticated, [:]), (.logout, [:]), (.signin, ["new_device": "true"]), (.passkeyRemoved, [SecurityEvent.sessionsEndedDetail: "2"]),
        ]
        for (kind, detail) in events {
            try await store.appendEvent(SecurityEvent(id: UUID(), userID: user.id, kind: kind, at: clock.now, ip: "192.0.2.4", userAgent: "UA", detail: detail))
        }
        clock.advance(by: 1)
        #expect(try await dispatcher.deliverDue() == 5)
        let subjects = sink.messages.dropFirst(before).compactMap { $0.data.split(separator: "\r\n").first { $0.hasPrefix("Subject:") } }
        #expect(subjects == ["Subject: Portcullis: New sign-in to your account from a new device", "Subject: Portcullis: A passkey was removed from your account"])
        // The removal notice says that what the passkey had signed in was signed out.
        let removal = try #require(sink.messages.dropFirst(before).last)
        #expect(removal.text.contains("Every session that passkey had signed in was signed out (2)."))
        try await sink.close()
    }

    /// A server that accepts the connection and never answers: the exchange ends at its deadline,
    /// with an error, and the connection is closed.
    @Test func aSilentServerMeetsTheDeadline() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let mailer = SMTPMailer(host: "127.0.0.1", port: port, security: .none, timeout: .milliseconds(300))
        let started = ContinuousClock.now
        await #expect { try await mailer.send(from: "a@example.org", to: ["b@example.org"], message: Array("x".utf8)) } throws: { error in
            (error as? SMTPError)?.description.contains("no answer") == true
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        try await server.close()
    }

    @Test func refusedMailIsRetriedAndStartTLSIsRequiredWhenAsked() async throws {
        let pki = TestPKI(name: "SMTP Test")
        let tlsSink = try await SMTPSink(tls: pki.tlsServer(hostname: "localhost"))
        let plainSink = try await SMTPSink()
        let store = MemoryAccountStore()
        let user = try await Self.signUp(store)
        try await store.saveRecoverySettings(RecoverySettings(userID: user.id, addresses: ["nora@example.com"], verifiedAddresses: ["nora@example.com"]), event: Self.caseEvent(for: user))
        let clock = MutableClock(FixedClock.now.addingTimeInterval(1))
        let roots = try NIOSSLCertificate.fromPEMBytes(Array(TestPKI.pem(pki.root).utf8))

        // A server that cannot upgrade is refused, and the entries wait.
        let downgrade = Self.emailDispatcher(store, mailer: SMTPMailer(host: "127.0.0.1", port: plainSink.port, security: .starttls, trustRoots: roots), clock: clock)
        #expect(try await downgrade.deliverDue() == 2)
        #expect(plainSink.messages.isEmpty)
        // Credentials are never sent in the clear.
        clock.advance(by: 3)
        let cleartext = Self.emailDispatcher(store, mailer: SMTPMailer(host: "127.0.0.1", port: plainSink.port, security: .none, username: "u", password: "p"), clock: clock)
        #expect(try await cleartext.deliverDue() == 2)
        #expect(plainSink.messages.isEmpty)

        // The recipient is refused: retried later.
        tlsSink.refuseRecipients(true)
        clock.advance(by: 5)
        let secure = Self.emailDispatcher(
            store, mailer: SMTPMailer(host: "localhost", port: tlsSink.port, security: .starttls, username: "portcullis", password: "s3cret", trustRoots: roots),
            clock: clock)
        #expect(try await secure.deliverDue() == 2)
        #expect(tlsSink.messages.isEmpty)
        tlsSink.refuseRecipients(false)
        clock.advance(by: 10)
        #expect(try await secure.deliverDue() == 2)
        #expect(tlsSink.messages.count == 2)
        #expect(tlsSink.messages.allSatisfy { $0.overTLS && $0.credentials?.username == "portcullis" && $0.credentials?.password == "s3cret" })

        // A certificate from an unknown CA is refused.
        let other = try NIOSSLCertificate.fromPEMBytes(Array(TestPKI.pem(TestPKI(name: "Other").root).utf8))
        try await store.appendEvent(Self.caseEvent(for: user))
        clock.advance(by: 1)
        let untrusted = Self.emailDispatcher(store, mailer: SMTPMailer(host: "localhost", port: tlsSink.port, security: .starttls, trustRoots: other), clock: clock)
        #expect(try await untrusted.deliverDue() == 1)
        #expect(tlsSink.messages.count == 2)
        try await tlsSink.close()
        try await plainSink.close()
    }
}
