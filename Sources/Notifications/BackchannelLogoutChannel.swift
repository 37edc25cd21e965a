import AsyncHTTPClient
import Accounts
import Foundation
import NIOCore
import NIOHTTP1
import OIDC

/// OpenID Connect Back-Channel Logout 1.0 from the outbox: for each security event that ends sessions,
/// a signed logout token is posted to every app that got tokens from them (§2.5: a form with
/// `logout_token`). A failed post is retried with the event, like a webhook.
public struct BackchannelLogoutChannel: NotificationChannel {
    let provider: OIDCProvider
    let post: @Sendable (_ url: String, _ body: [UInt8]) async throws -> Int
    public var name: String { "backchannel-logout" }
    /// The events that end sessions.
    public var kinds: Set<SecurityEvent.Kind>? { [.logout, .sessionRevoked, .passkeyRemoved, .recoveryCompleted, .userDisabled] }

    /// Posts with AsyncHTTPClient unless `post` is given.
    public init(provider: OIDCProvider, post: (@Sendable (String, [UInt8]) async throws -> Int)? = nil) {
        self.provider = provider
        self.post = post ?? Self.httpPost
    }

    public func deliver(_ event: SecurityEvent, user: User?, links: [String: String], attemptID: String, now: Date) async -> Bool {
        guard let logouts = try? await provider.backchannelLogouts(for: event) else { return false }
        var ok = true
        for logout in logouts {
            let body = Array("logout_token=\(logout.token)".utf8)  // a JWS is base64url and dots: nothing to escape
            let status = (try? await post(logout.uri, body)) ?? 0
            if !(200..<300).contains(status) { ok = false }
        }
        return ok
    }

    static let httpPost: @Sendable (String, [UInt8]) async throws -> Int = { url, body in
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Cache-Control", value: "no-store")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}
