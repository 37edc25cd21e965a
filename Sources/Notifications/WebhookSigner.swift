import Crypto
import Foundation

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
