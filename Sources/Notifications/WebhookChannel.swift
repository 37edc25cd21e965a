import Accounts
import Foundation
import WebAuthn

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

    /// The JSON body for one event (Standard Webhooks: `type`, `timestamp`, `data`).
    static func payload(_ event: SecurityEvent, user: User?, links: [String: String] = [:]) -> [UInt8] {
        // The payload holds strings and a date only: encoding cannot fail.
        let value = (try? JSONValueEncoder().encode(WebhookPayload(event: event, user: user, links: links))) ?? .null
        return Array(StrictJSON.serialize(value).utf8)
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

/// One delivery's body: the event's type and time, and its data: whose account (the ID, and the
/// username while the account exists), from where, then the event's detail and its links, each
/// sorted by name.
struct WebhookPayload: Encodable {
    let event: SecurityEvent
    let user: User?
    let links: [String: String]

    struct Data: Encodable {
        let event: SecurityEvent
        let user: User?
        let links: [String: String]

        typealias Key = JSONMemberKey

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(event.userID, forKey: Key("userId"))
            try container.encodeIfPresent(user?.username, forKey: Key("username"))
            try container.encode(event.ip, forKey: Key("ip"))
            try container.encode(event.userAgent, forKey: Key("userAgent"))
            for (name, value) in event.detail.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: Key(name)) }
            for (name, value) in links.sorted(by: { $0.key < $1.key }) { try container.encode(value, forKey: Key(name)) }
        }
    }

    enum CodingKeys: String, CodingKey { case type, timestamp, data }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("portcullis." + event.kind.rawValue, forKey: .type)
        try container.encode(event.at, forKey: .timestamp)
        try container.encode(Data(event: event, user: user, links: links), forKey: .data)
    }
}
