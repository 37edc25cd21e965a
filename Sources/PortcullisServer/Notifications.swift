import Accounts
import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import WebAuthn

/// Signs webhook deliveries as Standard Webhooks does: `webhook-id`, `webhook-timestamp` and
/// `webhook-signature: v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`, where the key is the
/// base64 after `whsec_` in the configured secret.
public struct WebhookSigner: Sendable {
    let key: SymmetricKey

    /// Parses a `whsec_...` secret of at least 24 random bytes.
    public init?(secret: String) {
        guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))), bytes.count >= 24 else { return nil }
        key = SymmetricKey(data: bytes)
    }

    /// The three headers for one delivery.
    public func headers(id: String, timestamp: Int, body: [UInt8]) -> [(String, String)] {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        let mac = Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
        return [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", "v1," + mac)]
    }
}

/// Where webhook deliveries go: HTTP in production, a recorder in tests.
public protocol WebhookTransport: Sendable {
    /// Posts `body`; returns the HTTP status.
    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int
}

/// Posts with AsyncHTTPClient.
public struct HTTPWebhookTransport: WebhookTransport {
    public init() {}
    public func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}

/// Sends the security timeline to webhooks from the outbox: at-least-once, retried with exponential
/// backoff, surviving restarts (the outbox is the events table). The payload names what happened to
/// whom, never anything that could sign anyone in.
public struct NotificationDispatcher: Service {
    let store: any AccountStore
    let urls: [String]
    let signer: WebhookSigner
    let transport: any WebhookTransport
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Extra members for an event's payload (the "this wasn't me" link of a recovery case).
    let links: @Sendable (SecurityEvent) -> [String: String]
    /// Give up after this many failed attempts.
    public static let maximumAttempts = 12

    public init(store: any AccountStore, urls: [String], signer: WebhookSigner, transport: any WebhookTransport = HTTPWebhookTransport(),
                logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
                links: @escaping @Sendable (SecurityEvent) -> [String: String] = { _ in [:] }) {
        self.links = links
        self.store = store
        self.urls = urls
        self.signer = signer
        self.transport = transport
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let sent = (try? await deliverDue()) ?? 0
            if sent == 0 { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } }
        }
    }

    /// The JSON body for one event.
    static func payload(_ event: SecurityEvent, user: User?, links: [String: String] = [:]) -> [UInt8] {
        var data: JSONObject = [
            "userId": .string(event.userID.uuidString.lowercased()),
            "username": user.map { .string($0.username) } ?? .null,
            "ip": .string(event.ip), "userAgent": .string(event.userAgent),
        ]
        for (key, value) in event.detail.sorted(by: { $0.key < $1.key }) { data[key] = .string(value) }
        for (key, value) in links { data[key] = .string(value) }
        let body: JSONValue = .object([
            "type": .string("portcullis." + event.kind),
            "timestamp": .string(ISO8601DateFormatter().string(from: event.at)),
            "data": .object(data),
        ])
        return Array(StrictJSON.serialize(body).utf8)
    }

    /// Delivers the entries due now; returns how many were claimed.
    @discardableResult
    public func deliverDue() async throws -> Int {
        let now = clock()
        let claimed = try await store.claimUndeliveredEvents(now: now, lease: 60, limit: 50)
        for (event, attempts) in claimed {
            let body = Self.payload(event, user: try? await store.user(id: event.userID), links: links(event))
            let id = "evt_" + event.id.uuidString.lowercased()
            let headers = signer.headers(id: id, timestamp: Int(now.timeIntervalSince1970), body: body)
            var ok = true
            for url in urls {
                let status = (try? await transport.post(url: url, headers: headers, body: body)) ?? 0
                if !(200..<300).contains(status) { ok = false }
            }
            if ok {
                try await store.markEventDelivered(id: event.id, at: now)
            } else {
                let failures = attempts + 1
                let next: Date? = failures >= Self.maximumAttempts ? nil : now.addingTimeInterval(min(3600, pow(2, Double(failures))))
                if next == nil { logger.warning("giving up delivering event \(id) after \(failures) attempts") }
                try await store.recordEventDeliveryFailure(id: event.id, attempts: failures, nextAttempt: next)
            }
        }
        return claimed.count
    }
}
