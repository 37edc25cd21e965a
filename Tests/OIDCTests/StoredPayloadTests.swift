import Foundation
@testable import OIDC
import Testing
import WebAuthn

/// One payload value, checked against the format its `Codable` conformance gives with Foundation's
/// coders: what an earlier version stored must still read, and what this one stores must read back
/// through Foundation's decoder (so a version before this one can still read it).
struct PayloadCase: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let check: @Sendable () throws -> Void

    static func of<T: StoredPayload & Codable & Equatable & Sendable>(_ name: String, _ value: T) -> PayloadCase {
        PayloadCase(testDescription: name) {
            let foundation = try JSONEncoder().encode(value)
            #expect(T(payloadBytes: Array(foundation)) == value, "a payload Foundation wrote reads back the same")
            let written = value.payloadBytes
            #expect(T(payloadBytes: written) == value, "a payload written by hand reads back the same")
            #expect(try JSONDecoder().decode(T.self, from: Data(written)) == value, "Foundation reads a payload written by hand")
        }
    }
}

// A fraction of a second that a float with fewer digits would lose.
private let arrival = Date(timeIntervalSinceReferenceDate: 786_749_123.123_456_7)
private let userID = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
private let sessionID = UUID(uuidString: "0E984725-C51C-4BF4-9960-E1C80E27ABA0")!

private let fullRequest = AuthorizationRequest(
    clientID: "client", redirectURI: "https://app.example/cb?x=1&y=\"2\"", scopes: ["openid", "profile", "offline_access"], state: "st\u{e9}te/\\",
    nonce: "n-0S6_WzA2Mj", codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", prompt: ["login", "consent"], maxAge: 0, loginHint: "ada@example.org",
    hintSubject: "sub", requiredACR: [Assurance.phrh], userinfoClaims: ["name"], idTokenClaims: ["acr"], dpopJKT: "jkt", receivedAt: arrival)
private let bareRequest = AuthorizationRequest(
    clientID: "c", redirectURI: "http://127.0.0.1/cb", scopes: ["openid"], state: nil, nonce: nil, codeChallenge: "x", prompt: [], maxAge: nil,
    loginHint: nil, hintSubject: nil, requiredACR: [], userinfoClaims: [], idTokenClaims: [], dpopJKT: nil, receivedAt: Date(timeIntervalSinceReferenceDate: 0))
private let assurance = Assurance(acr: Assurance.phr, amr: ["swk", "user", "mfa"])

@Suite("Stored payloads keep the format Foundation's coders gave them")
struct StoredPayloadTests {
    static let cases: [PayloadCase] = [
        .of("interaction, every member", OIDCProvider.Interaction(request: fullRequest, consented: true, askedForSignIn: false)),
        .of("interaction, no optionals", OIDCProvider.Interaction(request: bareRequest, consented: false, askedForSignIn: true)),
        .of("code", CodeGrant(request: fullRequest, userID: userID, sessionID: sessionID, authTime: arrival, assurance: assurance, offline: true)),
        .of("code, not offline", CodeGrant(request: bareRequest, userID: userID, sessionID: sessionID, authTime: arrival, assurance: assurance,
                                           offline: false)),
        .of("refresh token", RefreshGrant(userID: userID, sessionID: sessionID, scopes: ["openid"], authTime: arrival, assurance: assurance,
                                          offline: false, dpopJKT: "thumb", userinfoClaims: ["name", "auth_time"])),
        .of("refresh token without DPoP", RefreshGrant(userID: userID, sessionID: sessionID, scopes: [], authTime: .distantPast,
                                                       assurance: Assurance(acr: Assurance.deviceGrant, amr: []), offline: true, dpopJKT: nil)),
        .of("access token", AccessGrant(scopes: ["openid", "profile"], userinfoClaims: ["name", "preferred_username"])),
        .of("consent", ConsentGrant(scopes: ["openid"], at: arrival, remember: false)),
        .of("consent stored before the choice existed", ConsentGrant(scopes: ["openid", "offline_access"], at: arrival, remember: nil)),
        .of("pushed request", PushedRequest(clientID: "c", parameters: ["scope": "openid", "state": "a\u{0}b\n"], receivedAt: arrival)),
        .of("device grant", DeviceGrantRequest(scopes: ["openid", "profile"])),
    ]

    @Test(arguments: cases)
    func readsAndWritesTheStoredFormat(_ payload: PayloadCase) throws {
        try payload.check()
    }

    /// Stored bytes that are not a payload of the type read as nothing: the caller then treats the
    /// artifact as unknown (fail closed), never as a default.
    @Test(arguments: [
        ("not JSON", #"{"scopes":["openid"],"userinfoClaims":[]"#),
        ("not an object", #"[["openid"],[]]"#),
        ("a member missing", #"{"scopes":["openid"]}"#),
        ("a member of another type", #"{"scopes":"openid","userinfoClaims":[]}"#),
        ("an element of another type", #"{"scopes":["openid",1],"userinfoClaims":[]}"#),
        ("a repeated member", #"{"scopes":["openid"],"scopes":["profile"],"userinfoClaims":[]}"#),
        ("text after the object", #"{"scopes":["openid"],"userinfoClaims":[]} x"#),
    ])
    func badAccessGrantsReadAsNothing(_ name: String, _ text: String) {
        #expect(AccessGrant(payloadBytes: Array(text.utf8)) == nil, "\(name)")
    }

    @Test(arguments: [
        ("a date as text", #"{"scopes":["openid"],"at":"2026-12-06T00:00:00Z"}"#),
        ("a flag as text", #"{"scopes":["openid"],"at":1,"remember":"false"}"#),
        ("a flag as a number", #"{"scopes":["openid"],"at":1,"remember":0}"#),
    ])
    func badConsentsReadAsNothing(_ name: String, _ text: String) {
        #expect(ConsentGrant(payloadBytes: Array(text.utf8)) == nil, "\(name)")
    }

    @Test func aCodeWithABadUUIDOrAssuranceReadsAsNothing() throws {
        let good = CodeGrant(request: bareRequest, userID: userID, sessionID: sessionID, authTime: arrival, assurance: assurance, offline: false)
        let text = String(decoding: good.payloadBytes, as: UTF8.self)
        #expect(CodeGrant(payloadBytes: Array(text.utf8)) == good)
        let badUUID = text.replacingOccurrences(of: userID.uuidString, with: "not-a-uuid")
        let badAssurance = text.replacingOccurrences(of: #""acr":"phr""#, with: #""acr":7"#)
        let maxAgeFraction = text.replacingOccurrences(of: #""prompt":[]"#, with: #""prompt":[],"maxAge":1.5"#)
        for bad in [badUUID, badAssurance, maxAgeFraction] {
            #expect(bad != text)
            #expect(CodeGrant(payloadBytes: Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    /// Codes stored by the version that kept the session's expiry in them still read; the exchange
    /// reads the session itself now.
    @Test func aCodeThatKeptItsSessionsExpiryStillReads() throws {
        let good = CodeGrant(request: bareRequest, userID: userID, sessionID: sessionID, authTime: arrival, assurance: assurance, offline: false)
        let text = String(decoding: good.payloadBytes, as: UTF8.self)
        let earlier = text.replacingOccurrences(of: #""offline":false"#, with: #""offline":false,"sessionExpiresAt":817776000.25"#)
        #expect(earlier != text)
        #expect(CodeGrant(payloadBytes: Array(earlier.utf8)) == good)
    }

    @Test func membersTheTypeDoesNotKnowAreIgnored() {
        let text = #"{"scopes":["openid"],"userinfoClaims":[],"added":{"by":"a later version"}}"#
        #expect(AccessGrant(payloadBytes: Array(text.utf8)) == AccessGrant(scopes: ["openid"], userinfoClaims: []))
    }
}

@Suite("Signed claims are the JSON their Codable conformance reads")
struct SignedClaimsTests {
    static func check<T: SignedClaims & Decodable & Equatable>(_ claims: T, absent: [String]) throws {
        let bytes = StrictJSON.serializedBytes(claims.claimsJSON)
        #expect(try JSONDecoder().decode(T.self, from: Data(bytes)) == claims)
        let object = try #require(try StrictJSON.parse(bytes).object)
        for name in absent { #expect(object[name] == nil, "\(name) is left out, not null") }
        #expect(!String(decoding: bytes, as: UTF8.self).contains(#"\/"#), "slashes are not escaped")
    }

    @Test func idTokenClaims() throws {
        var claims = IDTokenClaims(iss: "https://id.example.org", sub: "s", aud: "a", exp: 2_000_000_000, iat: 1_999_999_400, auth_time: 1_999_999_000,
                                   nonce: nil, sid: nil, at_hash: nil, acr: Assurance.phrh, amr: ["hwk", "user"], azp: nil)
        try Self.check(claims, absent: ["nonce", "sid", "at_hash", "azp", "name", "preferred_username"])
        claims.nonce = "n"
        claims.sid = "sid"
        claims.at_hash = "hash"
        claims.azp = "a"
        claims.name = "Ada \"Countess\" Lovelace"
        claims.preferred_username = "ada"
        try Self.check(claims, absent: [])
    }

    @Test func accessTokenClaims() throws {
        var claims = AccessTokenClaims(iss: "https://id.example.org", sub: "s", aud: "https://id.example.org/oidc/userinfo", exp: 2_000_000_000,
                                       iat: 1_999_999_400, jti: "j", client_id: "c", scope: "openid profile", auth_time: 1, acr: Assurance.phr,
                                       amr: ["swk"], sid: nil, cnf: nil)
        try Self.check(claims, absent: ["sid", "cnf", "grant_record"])
        claims.sid = "sid"
        claims.cnf = .init(jkt: "thumbprint")
        claims.grant_record = "AZP3ylz0key"
        try Self.check(claims, absent: [])
    }

    @Test func logoutTokenClaims() throws {
        let claims = LogoutTokenClaims(iss: "https://id.example.org", sub: "s", aud: "c", iat: 1, exp: 121, jti: "j", sid: nil, events: .init())
        try Self.check(claims, absent: ["sid", "nonce"])
        let events = try #require(try StrictJSON.parse(StrictJSON.serializedBytes(claims.claimsJSON)).object?["events"]?.object)
        #expect(events["http://schemas.openid.net/event/backchannel-logout"] == .object(JSONObject()))
    }
}
