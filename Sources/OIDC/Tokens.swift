import Accounts
import Foundation
import JWTKit
import WebAuthn

/// Claims this provider signs into a JWS (``KeyRing/sign(_:algorithm:type:)``). Their JSON is
/// written by hand, as the stored payloads' is (see ``StoredPayload``): the members the `Codable`
/// conformance reads back, absent optional claims left out, `/` not escaped.
public protocol SignedClaims: Sendable {
    /// The JWS payload's JSON object.
    var claimsJSON: JSONValue { get }
}

/// How strong a sign-in was, in the words tokens use: `acr` (OpenID Connect Core §2, with the values
/// of OpenID EAP ACR Values 1.0) and `amr` (RFC 8176 §2).
///
/// Only a session born from the person's own passkey assertion is `phr` (synced passkey) or `phrh`
/// (device-bound passkey). A session approved from another device, a recovered session in its
/// cooling period, and a device-grant sign-in get values of their own, and never claim more.
public struct Assurance: Codable, Sendable, Hashable {
    /// The `acr` value.
    public var acr: String
    /// The `amr` values.
    public var amr: [String]

    /// Phishing-resistant, with a device-bound (hardware-protected) key.
    public static let phrh = "phrh"
    /// Phishing-resistant.
    public static let phr = "phr"
    /// Approved by a passkey on another device of the same person (the device signing in has none).
    public static let deviceApproval = "urn:portcullis:acr:device-approval"
    /// Signed in with a passkey registered by an account recovery, during its cooling period.
    public static let recovered = "urn:portcullis:acr:recovered"
    /// A device authorization grant (RFC 8628) approved by the person's passkey on another device.
    public static let deviceGrant = "urn:portcullis:acr:device-grant"
    /// Every `acr` value the provider issues, strongest first (discovery's `acr_values_supported`).
    public static let acrValuesSupported = [phrh, phr, deviceApproval, recovered, deviceGrant]

    /// The assurance of a session, from how it was born.
    public init(birth: SessionBirth) {
        switch birth.kind {
        case .passkey: acr = birth.deviceBound ? Self.phrh : Self.phr
        case .recovered: acr = Self.recovered
        default: acr = Self.deviceApproval
        }
        // RFC 8176 §2: hwk for a key held in hardware, swk for a software (synced) key; user for user
        // presence; mfa when user verification added a second factor (the key plus a PIN or biometric).
        amr = [birth.deviceBound ? "hwk" : "swk", "user"] + (birth.userVerified ? ["mfa"] : [])
    }

    /// An explicit assurance.
    public init(acr: String, amr: [String]) {
        self.acr = acr
        self.amr = amr
    }
}

/// Claims of an ID token (Core §2) as the provider issues them.
public struct IDTokenClaims: JWTPayload, SignedClaims, Equatable {
    public var iss: String
    public var sub: String
    public var aud: String
    public var exp: Int
    public var iat: Int
    public var auth_time: Int
    public var nonce: String?
    public var sid: String?
    public var at_hash: String?
    public var acr: String
    public var amr: [String]
    public var azp: String?
    public var name: String?
    public var preferred_username: String?

    /// Signature checks happen in ``KeyRing``; the claims are checked by the caller that knows what to expect.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    public var claimsJSON: JSONValue {
        var writer = PayloadWriter(capacity: 14)
        writer.add("iss", iss)
        writer.add("sub", sub)
        writer.add("aud", aud)
        writer.add("exp", exp)
        writer.add("iat", iat)
        writer.add("auth_time", auth_time)
        writer.add("nonce", nonce)
        writer.add("sid", sid)
        writer.add("at_hash", at_hash)
        writer.add("acr", acr)
        writer.add("amr", amr)
        writer.add("azp", azp)
        writer.add("name", name)
        writer.add("preferred_username", preferred_username)
        return writer.json
    }
}

/// Claims of a JWT access token (RFC 9068 §2.2).
public struct AccessTokenClaims: JWTPayload, SignedClaims, Equatable {
    public struct Confirmation: Codable, Sendable, Hashable {
        /// The JWK SHA-256 thumbprint of the DPoP key (RFC 9449 §6.1).
        public var jkt: String
    }
    public var iss: String
    public var sub: String
    public var aud: String
    public var exp: Int
    public var iat: Int
    public var jti: String
    public var client_id: String
    public var scope: String
    public var auth_time: Int
    public var acr: String
    public var amr: [String]
    public var sid: String?
    public var cnf: Confirmation?
    /// The stored key (base64url) of the refresh token issued with this token: the record the token
    /// is checked against while it lives, so that it ends with its grant, its session or its app's
    /// access without a record of its own. A private claim (RFC 7519 §4.3); tokens issued before it
    /// existed are checked against their own record, found by `jti`.
    public var grant_record: String?

    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    public var claimsJSON: JSONValue {
        var writer = PayloadWriter(capacity: 14)
        writer.add("iss", iss)
        writer.add("sub", sub)
        writer.add("aud", aud)
        writer.add("exp", exp)
        writer.add("iat", iat)
        writer.add("jti", jti)
        writer.add("client_id", client_id)
        writer.add("scope", scope)
        writer.add("auth_time", auth_time)
        writer.add("acr", acr)
        writer.add("amr", amr)
        writer.add("sid", sid)
        if let cnf {
            var confirmation = PayloadWriter(capacity: 1)
            confirmation.add("jkt", cnf.jkt)
            writer.add("cnf", confirmation.json)
        }
        writer.add("grant_record", grant_record)
        return writer.json
    }
}

/// Claims of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4).
public struct LogoutTokenClaims: JWTPayload, SignedClaims, Equatable {
    public struct Events: Codable, Sendable, Hashable {
        /// §2.4: an empty JSON object under the back-channel logout event's URI.
        public var backchannelLogout: [String: String] = [:]
        public init() {}
        enum CodingKeys: String, CodingKey { case backchannelLogout = "http://schemas.openid.net/event/backchannel-logout" }
    }
    public var iss: String
    public var sub: String
    public var aud: String
    public var iat: Int
    public var exp: Int
    public var jti: String
    public var sid: String?
    public var events: Events

    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    public var claimsJSON: JSONValue {
        var writer = PayloadWriter(capacity: 8)
        writer.add("iss", iss)
        writer.add("sub", sub)
        writer.add("aud", aud)
        writer.add("iat", iat)
        writer.add("exp", exp)
        writer.add("jti", jti)
        writer.add("sid", sid)
        var eventsWriter = PayloadWriter(capacity: 1)
        eventsWriter.add(Events.CodingKeys.backchannelLogout.rawValue, events.backchannelLogout)
        writer.add("events", eventsWriter.json)
        return writer.json
    }
}

/// The content of a stored authorization code: what the token endpoint needs to issue tokens.
struct CodeGrant: Codable, Sendable, Equatable {
    var request: AuthorizationRequest
    var userID: UUID
    var sessionID: UUID
    var authTime: Date
    var assurance: Assurance
    var offline: Bool
}

/// The content of a stored refresh token.
struct RefreshGrant: Codable, Sendable, Equatable {
    var userID: UUID
    var sessionID: UUID
    var scopes: [String]
    var authTime: Date
    var assurance: Assurance
    var offline: Bool
    var dpopJKT: String?
    /// The claims the authorization request asked UserInfo to return (Core §5.5); absent in refresh
    /// tokens stored before access tokens were checked against them.
    var userinfoClaims: [String]?
}

/// The content of a stored access token record.
struct AccessGrant: Codable, Sendable, Equatable {
    var scopes: [String]
    var userinfoClaims: [String]
}

/// The content of a stored consent.
struct ConsentGrant: Codable, Sendable, Equatable {
    var scopes: [String]
    var at: Date
    /// False when the person allowed the app this once: it is listed (and can be disconnected) but asks
    /// again next time. Absent in consents stored before the choice existed, which were remembered.
    var remember: Bool?
    var remembered: Bool { remember ?? true }
}
