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

/// One way of telling an owner about their account.
public protocol NotificationChannel: Sendable {
    /// A short name for logs and the ways-in report (`webhook`, `email`).
    var name: String { get }
    /// Delivers one event; returns whether it was delivered (a failed delivery is retried).
    func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool
}

/// Webhooks in the Standard Webhooks format.
public struct WebhookChannel: NotificationChannel {
    let urls: [String]
    let signer: WebhookSigner
    let transport: any WebhookTransport
    public var name: String { "webhook" }

    /// Posts to every URL in `urls`, signed by `signer`.
    public init(urls: [String], signer: WebhookSigner, transport: any WebhookTransport = HTTPWebhookTransport()) {
        self.urls = urls
        self.signer = signer
        self.transport = transport
    }

    /// The JSON body for one event.
    static func payload(_ event: SecurityEvent, user: User?, links: [String: String] = [:]) -> [UInt8] {
        var data: JSONObject = [
            "userId": .string(event.userID.uuidString.lowercased()),
            "username": user.map { .string($0.username) } ?? .null,
            "ip": .string(event.ip), "userAgent": .string(event.userAgent),
        ]
        for (key, value) in event.detail.sorted(by: { $0.key < $1.key }) { data[key] = .string(value) }
        for (key, value) in links.sorted(by: { $0.key < $1.key }) { data[key] = .string(value) }
        let body: JSONValue = .object([
            "type": .string("portcullis." + event.kind),
            "timestamp": .string(ISO8601DateFormatter().string(from: event.at)),
            "data": .object(data),
        ])
        return Array(StrictJSON.serialize(body).utf8)
    }

    public func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool {
        let body = Self.payload(event, user: user, links: links)
        let headers = signer.headers(id: attemptID, timestamp: Int(now.timeIntervalSince1970), body: body)
        var ok = true
        for url in urls {
            let status = (try? await transport.post(url: url, headers: headers, body: body)) ?? 0
            if !(200..<300).contains(status) { ok = false }
        }
        return ok
    }
}

/// E-mail to the owner's notification addresses (their recovery settings). An event for someone
/// with no addresses is delivered by doing nothing.
public struct EmailChannel: NotificationChannel {
    let store: any AccountStore
    let transport: any MailTransport
    let from: String
    let serviceName: String
    let logger: Logger
    public var name: String { "email" }

    /// Mails from `from` through `transport`, reading each user's addresses from `store`.
    public init(store: any AccountStore, transport: any MailTransport, from: String, serviceName: String, logger: Logger) {
        self.store = store
        self.transport = transport
        self.from = from
        self.serviceName = serviceName
        self.logger = logger
    }

    /// What people read for each kind of event.
    static func summary(_ kind: String) -> String {
        switch kind {
        case "signup": "Your account was created"
        case "signin": "New sign-in to your account from a new device"
        case "signin_device_approval": "A device signed in with your approval"
        case "passkey_added": "A passkey was added to your account"
        case "passkey_removed": "A passkey was removed from your account"
        case "device_approved": "You approved a sign-in on another device"
        case "enrolment_confirmed": "A new device is being enrolled"
        case "recovery_started": "Someone asked to recover your account"
        case "recovery_approved": "A recovery request for your account was approved"
        case "recovery_cancelled": "A recovery request for your account was cancelled"
        case "recovery_completed": "Your account was recovered with a new passkey"
        case "admin_granted", "admin_revoked": "Your admin role changed"
        default: "Security activity on your account"
        }
    }

    /// The full message: plain text, base64 body (any characters survive any relay), no secret that
    /// could sign anyone in; recovery notices carry only the "this wasn't me" link, which can only cancel.
    func message(_ event: SecurityEvent, user: User?, links: [String: String], to: [String], messageID: String) -> [UInt8] {
        var text = "\(Self.summary(event.kind)).\n\n"
        if let user { text += "Account: \(user.username)\n" }
        text += "When: \(ISO8601DateFormatter().string(from: event.at))\nFrom: \(event.ip)\nDevice: \(event.userAgent)\n"
        for (key, value) in event.detail.sorted(by: { $0.key < $1.key }) { text += "\(key): \(value)\n" }
        if event.kind == "passkey_removed", let ended = event.detail[SecurityEvent.sessionsEndedDetail] {
            text += "\nEvery session that passkey had signed in was signed out (\(ended)).\n"
        }
        if let cancel = links["cancelUrl"] {
            text += "\nIf this wasn't you, open this link and press the button to cancel the request "
                + "(this also blocks new requests for a day):\n\(cancel)\n"
        }
        text += "\nThis is an automatic notice from \(serviceName). It never asks for a code or a password.\n"
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let encoded = Data(text.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let subject = "\(serviceName): \(Self.summary(event.kind))".filter { $0.isASCII && $0 != "\r" && $0 != "\n" }
        let headers = [
            "From: \(from)", "To: \(to.joined(separator: ", "))", "Subject: \(subject)", "Date: \(formatter.string(from: event.at))",
            "Message-ID: <\(messageID)@portcullis>", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64", "Auto-Submitted: auto-generated",
        ]
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + encoded + "\r\n").utf8)
    }

    /// Whether an event is worth an e-mail: everything that changes how the account can be entered,
    /// and sign-ins from a new device; not routine sign-ins, re-authentications, renames or sign-outs
    /// (webhooks still get every event).
    static func mails(_ event: SecurityEvent) -> Bool {
        switch event.kind {
        case "signin": event.detail["new_device"] == "true"
        case "reauthenticated", "logout", "passkey_renamed", "enrolment_opened": false
        default: true
        }
    }

    public func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool {
        guard Self.mails(event) else { return true }
        guard let addresses = try? await store.recoverySettings(userID: event.userID)?.addresses else { return true }
        guard !addresses.isEmpty else { return true }
        do {
            try await transport.send(from: from, to: addresses, message: message(event, user: user, links: links, to: addresses, messageID: attemptID))
            return true
        } catch {
            logger.warning("e-mail for \(attemptID) failed: \(error)")
            return false
        }
    }
}

/// Sends the security timeline from the outbox to every channel: at-least-once, retried with
/// exponential backoff, surviving restarts (the outbox is the events table). The payload names what
/// happened to whom, never anything that could sign anyone in.
public struct NotificationDispatcher: Service {
    let store: any AccountStore
    let channels: [any NotificationChannel]
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Extra members for an event's payload (the "this wasn't me" link of a recovery case).
    let links: @Sendable (SecurityEvent) -> [String: String]
    /// Give up after this many failed attempts.
    public static let maximumAttempts = 12

    /// A dispatcher for `channels` (none is allowed: entries are then marked delivered).
    public init(store: any AccountStore, channels: [any NotificationChannel], logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
                links: @escaping @Sendable (SecurityEvent) -> [String: String] = { _ in [:] }) {
        self.store = store
        self.channels = channels
        self.logger = logger
        self.clock = clock
        self.links = links
    }

    /// Webhooks only.
    public init(store: any AccountStore, urls: [String], signer: WebhookSigner, transport: any WebhookTransport = HTTPWebhookTransport(),
                logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
                links: @escaping @Sendable (SecurityEvent) -> [String: String] = { _ in [:] }) {
        self.init(store: store, channels: [WebhookChannel(urls: urls, signer: signer, transport: transport)], logger: logger, clock: clock, links: links)
    }

    /// Delivers until the service group shuts down, idling a second when nothing is due.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let sent = (try? await deliverDue()) ?? 0
            if sent == 0 { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } }
        }
    }

    /// Delivers the entries due now; returns how many were claimed. An entry is delivered when every
    /// channel took it; otherwise every channel gets it again later (receivers drop duplicates by id).
    @discardableResult
    public func deliverDue() async throws -> Int {
        let now = clock()
        let claimed = try await store.claimUndeliveredEvents(now: now, lease: 60, limit: 50)
        for (event, attempts) in claimed {
            let user = try? await store.user(id: event.userID)
            let id = "evt_" + event.id.uuidString.lowercased()
            var ok = true
            for channel in channels {
                if !(await channel.deliver(event, user: user, links: links(event), attemptID: id, now: now)) { ok = false }
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
