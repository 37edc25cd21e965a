import Accounts
import Foundation
import WebAuthn

/// A relying party registered with the provider (OpenID Connect Core §2, RFC 6749 §2).
///
/// Redirect URIs are compared exactly, character for character (RFC 9700 §4.1.3, Core §3.1.2.1):
/// no wildcards, no prefix match, no normalisation.
public struct OIDCClient: Sendable, Hashable {
    /// The `client_id`.
    public var id: String
    /// A name people see (sign-in and consent pages, the device approval page).
    public var name: String
    /// SHA-256 of the secret of a confidential client; nil for a public client (`none` authentication).
    public var secretHash: [UInt8]?
    /// Where authorization responses may go, exactly as registered.
    public var redirectURIs: [String]
    /// Where RP-initiated logout may return to, exactly as registered.
    public var postLogoutRedirectURIs: [String]
    /// Where back-channel logout tokens are posted (OpenID Connect Back-Channel Logout 1.0 §2.2).
    public var backchannelLogoutURI: String?
    /// A third-party client needs the person's consent; a first-party one does not.
    public var thirdParty: Bool
    /// May use the device authorization grant (RFC 8628).
    public var deviceGrant: Bool
    /// Authorization requests must come through pushed authorization (RFC 9126 §6).
    public var requirePAR: Bool
    /// Access tokens must be DPoP-bound (RFC 9449 §5).
    public var requireDPoP: Bool
    /// Every sign-in must come from a device-bound passkey (`acr` `phrh`).
    public var requireDeviceBound: Bool
    /// A default `max_age` (Core §3.1.2.1), in seconds.
    public var maxAuthAge: Int?
    /// The ID token's signing algorithm.
    public var idTokenAlgorithm: SigningAlgorithm
    /// Subjects are pairwise (Core §8.1): each client sees its own identifier for a person.
    public var pairwise: Bool
    /// The scopes the client may ask for.
    public var scopes: [String]
    /// When it was registered.
    public var createdAt: Date

    /// A client as stored.
    public init(
        id: String, name: String, secretHash: [UInt8]?, redirectURIs: [String], postLogoutRedirectURIs: [String] = [],
        backchannelLogoutURI: String? = nil, thirdParty: Bool = false, deviceGrant: Bool = false, requirePAR: Bool = false,
        requireDPoP: Bool = false, requireDeviceBound: Bool = false, maxAuthAge: Int? = nil, idTokenAlgorithm: SigningAlgorithm = .rs256,
        pairwise: Bool = false, scopes: [String] = OIDCClient.defaultScopes, createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.secretHash = secretHash
        self.redirectURIs = redirectURIs
        self.postLogoutRedirectURIs = postLogoutRedirectURIs
        self.backchannelLogoutURI = backchannelLogoutURI
        self.thirdParty = thirdParty
        self.deviceGrant = deviceGrant
        self.requirePAR = requirePAR
        self.requireDPoP = requireDPoP
        self.requireDeviceBound = requireDeviceBound
        self.maxAuthAge = maxAuthAge
        self.idTokenAlgorithm = idTokenAlgorithm
        self.pairwise = pairwise
        self.scopes = scopes
        self.createdAt = createdAt
    }

    /// A public client has no secret and authenticates with `none` (RFC 6749 §2.1).
    public var isPublic: Bool { secretHash == nil }

    /// The scopes a client may ask for when it registers none.
    public static let defaultScopes = ["openid", "profile", "offline_access"]
}

/// A JWS algorithm the provider signs with: RS256 (mandatory to implement, Core §15.1) and ES256.
/// Never `none`.
public struct SigningAlgorithm: Hashable, Sendable, CustomStringConvertible {
    package enum Base: String, CaseIterable, Sendable { case rs256 = "RS256", es256 = "ES256" }
    package let base: Base
    package init(_ base: Base) { self.base = base }
    /// Parses the JWA name; nil for any other.
    public init?(rawValue: String) {
        guard let base = Base(rawValue: rawValue) else { return nil }
        self.base = base
    }
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    public static let rs256 = SigningAlgorithm(.rs256)
    /// ECDSA on P-256 with SHA-256.
    public static let es256 = SigningAlgorithm(.es256)
    /// Every algorithm, in the order discovery lists them.
    public static var allCases: [SigningAlgorithm] { Base.allCases.map(SigningAlgorithm.init) }
    /// The JWA name.
    public var rawValue: String { base.rawValue }
    public var description: String { base.rawValue }
}

/// What an operator asks for when registering a client: checked by ``validated(id:secretHash:now:)``.
public struct ClientRegistration: Sendable {
    public var name: String
    public var redirectURIs: [String]
    public var postLogoutRedirectURIs: [String] = []
    public var backchannelLogoutURI: String?
    public var isPublic = false
    public var thirdParty = false
    public var deviceGrant = false
    public var requirePAR = false
    public var requireDPoP = false
    public var requireDeviceBound = false
    public var maxAuthAge: Int?
    public var idTokenAlgorithm: SigningAlgorithm = .rs256
    public var pairwise = false
    public var scopes: [String] = []

    /// A registration with a name and its redirect URIs; every other option at its default.
    public init(name: String, redirectURIs: [String]) {
        self.name = name
        self.redirectURIs = redirectURIs
    }

    /// The scopes the provider knows.
    public static let knownScopes: Set<String> = ["openid", "profile", "email", "offline_access"]

    /// The client this registration describes, or ``OIDCError/invalidRegistration(_:)`` naming what is wrong.
    public func validated(id: String, secretHash: [UInt8]?, now: Date) throws -> OIDCClient {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 100 else { throw OIDCError.invalidRegistration("The name must be 1 to 100 characters.") }
        guard PlainText.isClean(trimmed) else {
            throw OIDCError.invalidRegistration("The name \(PlainText.refusal)")
        }
        guard !redirectURIs.isEmpty || deviceGrant else {
            throw OIDCError.invalidRegistration("At least one redirect URI is required (or the device grant).")
        }
        for uri in redirectURIs + postLogoutRedirectURIs {
            if let problem = Self.problem(redirectURI: uri) { throw OIDCError.invalidRegistration("\(uri): \(problem)") }
        }
        if let backchannelLogoutURI, let problem = Self.problem(redirectURI: backchannelLogoutURI) {
            throw OIDCError.invalidRegistration("\(backchannelLogoutURI): \(problem)")
        }
        if let maxAuthAge, maxAuthAge < 0 { throw OIDCError.invalidRegistration("The maximum authentication age cannot be negative.") }
        let scopes = self.scopes.isEmpty ? OIDCClient.defaultScopes : self.scopes
        for scope in scopes where !Self.knownScopes.contains(scope) {
            throw OIDCError.invalidRegistration("Unknown scope \(scope); known: \(Self.knownScopes.sorted().joined(separator: ", ")).")
        }
        guard scopes.contains("openid") else { throw OIDCError.invalidRegistration("The scopes must include openid.") }
        return OIDCClient(
            id: id, name: trimmed, secretHash: isPublic ? nil : secretHash, redirectURIs: redirectURIs,
            postLogoutRedirectURIs: postLogoutRedirectURIs, backchannelLogoutURI: backchannelLogoutURI, thirdParty: thirdParty,
            deviceGrant: deviceGrant, requirePAR: requirePAR, requireDPoP: requireDPoP, requireDeviceBound: requireDeviceBound,
            maxAuthAge: maxAuthAge, idTokenAlgorithm: idTokenAlgorithm, pairwise: pairwise, scopes: scopes, createdAt: now)
    }

    /// Why `uri` cannot be registered, or nil: an absolute URI without a fragment (RFC 6749 §3.1.2),
    /// https, or http to a loopback host only (RFC 8252 §7.3, RFC 9700 §2.6).
    public static func problem(redirectURI uri: String) -> String? {
        // A URI is printable ASCII (RFC 3986 §2): other characters are percent-encoded. Matching is
        // byte for byte (``URIMatch``), and a registered URI must be one a browser sends back unchanged.
        guard uri.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return "a URI is printable ASCII; percent-encode other characters (RFC 3986 §2.1)"
        }
        guard uri.count <= 2000, let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty
        else { return "not an absolute URI" }
        if components.fragment != nil { return "a redirect URI must not have a fragment" }
        if components.user != nil || components.password != nil { return "a redirect URI must not carry credentials" }
        switch scheme {
        case "https": return nil
        case "http": return ["localhost", "127.0.0.1", "[::1]", "::1"].contains(host.lowercased()) ? nil : "http is allowed for loopback hosts only"
        default: return "the scheme must be https (or http for a loopback host)"
        }
    }
}

/// Exact matching of redirect URIs (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3): the same bytes. Swift's
/// `==` on strings compares canonical equivalents as equal (U+212A KELVIN SIGN equals `K`, U+037E
/// GREEK QUESTION MARK equals `;`, `e` with a combining acute equals `é`), which is not an exact match.
enum URIMatch {
    static func same(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    static func isRegistered(_ uri: String, in registered: [String]) -> Bool {
        registered.contains { same($0, uri) }
    }
}
