import Accounts
import Foundation
import WebAuthn

/// One logout token to deliver (OpenID Connect Back-Channel Logout 1.0 §2.5).
public struct BackchannelLogout: Sendable {
    /// The client's `backchannel_logout_uri`.
    public let uri: String
    /// The signed logout token.
    public let token: String
}

extension OIDCProvider {
    /// The logout tokens a security event calls for: a sign-out or a revoked session tells the apps that
    /// got tokens from that session (`sid` and `sub`); a removed passkey, a completed recovery and an
    /// operator's disabling tell every app of the person (`sub` alone: every session of theirs at the
    /// app ends, §2.4). Tokens from the ended sessions are revoked here too.
    public func backchannelLogouts(for event: SecurityEvent) async throws -> [BackchannelLogout] {
        var sessionID: UUID?
        switch event.kind {
        case .logout, .sessionRevoked:
            guard let text = event.detail["session"], let id = UUID(text: text) else { return [] }
            sessionID = id
            try await store.revokeSessions([id])
        case .passkeyRemoved:
            guard (event.detail[SecurityEvent.sessionsEndedDetail].flatMap { Int($0) } ?? 0) > 0 else { return [] }
        case .recoveryCompleted, .userDisabled:
            break
        default:
            return []
        }
        let now = clock()
        var logouts: [BackchannelLogout] = []
        for clientID in try await store.clientIDs(userID: event.userID, sessionID: sessionID) {
            guard let client = try await store.client(id: clientID), let uri = client.backchannelLogoutURI else { continue }
            let claims = LogoutTokenClaims(
                iss: settings.issuer, sub: subject(userID: event.userID, client: client), aud: client.id, iat: Int(now.timeIntervalSince1970),
                exp: Int(now.addingTimeInterval(120).timeIntervalSince1970), jti: Base64URL.encode(random.bytes(16)),
                sid: sessionID?.lowercaseText, events: LogoutTokenClaims.Events())
            // §2.4: typ logout+jwt keeps a logout token from passing as an ID token.
            logouts.append(BackchannelLogout(uri: uri, token: try await keys.sign(claims, algorithm: client.idTokenAlgorithm, type: "logout+jwt")))
        }
        return logouts
    }
}
