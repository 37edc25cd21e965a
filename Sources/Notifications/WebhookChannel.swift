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
            "type": .string("portcullis." + event.kind.rawValue),
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
