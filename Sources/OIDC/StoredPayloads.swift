import Accounts
import Foundation
import WebAuthn

/// A record kept as a stored artifact's payload (a waiting request, a code, a token's grant, a consent).
///
/// Every sign-in writes four of these and reads three, so their JSON is written and read by hand
/// rather than through Foundation's coders, whose generic machinery cost more than the rest of the
/// encoding work of a sign-in. The format is the one the types' `Codable` conformances give with
/// `JSONEncoder`'s defaults, which earlier versions stored: member names as the properties are
/// named, dates as seconds since 2001-01-01 (a JSON number, fraction kept), UUIDs as text, absent
/// optionals left out. Payloads stored by either can be read by both; tests hold the two to that.
protocol StoredPayload {
    /// The payload's JSON object.
    var payloadJSON: JSONValue { get }
    /// Reads a payload; throws when a member is missing or of the wrong type.
    init(payload: PayloadReader) throws(PayloadReader.Invalid)
}

extension StoredPayload {
    /// The stored bytes.
    var payloadBytes: [UInt8] { StrictJSON.serializedBytes(payloadJSON) }

    /// Reads stored bytes; nil when they are not a payload of this type.
    init?(payloadBytes bytes: [UInt8]) {
        guard let value = try? StrictJSON.parse(bytes), let reader = try? PayloadReader(value), let payload = try? Self(payload: reader) else { return nil }
        self = payload
    }
}

/// The members of a payload's JSON object, read as the types of the payload's properties. As with
/// `JSONDecoder`, unknown members are ignored and an optional may be absent or `null`.
struct PayloadReader {
    /// A member is missing, or not of its property's type.
    struct Invalid: Error {
        let member: String
    }

    let object: JSONObject

    init(_ value: JSONValue) throws(Invalid) {
        guard let object = value.object else { throw Invalid(member: "") }
        self.object = object
    }

    /// The member, or nil when it is absent or `null`.
    private func value(_ key: String) -> JSONValue? {
        switch object[key] {
        case nil, .null?: nil
        case let value?: value
        }
    }

    func string(_ key: String) throws(Invalid) -> String {
        guard let value = try optionalString(key) else { throw Invalid(member: key) }
        return value
    }

    func optionalString(_ key: String) throws(Invalid) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw Invalid(member: key) }
        return text
    }

    func optionalStrings(_ key: String) throws(Invalid) -> [String]? {
        guard value(key) != nil else { return nil }
        return try strings(key)
    }

    func strings(_ key: String) throws(Invalid) -> [String] {
        guard case .array(let elements)? = value(key) else { throw Invalid(member: key) }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let text) = element else { throw Invalid(member: key) }
            strings.append(text)
        }
        return strings
    }

    func stringMap(_ key: String) throws(Invalid) -> [String: String] {
        guard case .object(let members)? = value(key) else { throw Invalid(member: key) }
        var map: [String: String] = [:]
        for (name, element) in members.members {
            guard case .string(let text) = element else { throw Invalid(member: key) }
            map[name] = text
        }
        return map
    }

    func bool(_ key: String) throws(Invalid) -> Bool {
        guard let value = try optionalBool(key) else { throw Invalid(member: key) }
        return value
    }

    func optionalBool(_ key: String) throws(Invalid) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw Invalid(member: key) }
        return flag
    }

    func optionalInt(_ key: String) throws(Invalid) -> Int? {
        guard let value = value(key) else { return nil }
        guard case .number(let text) = value, let number = Int(text) else { throw Invalid(member: key) }
        return number
    }

    func date(_ key: String) throws(Invalid) -> Date {
        guard let value = try optionalDate(key) else { throw Invalid(member: key) }
        return value
    }

    func optionalDate(_ key: String) throws(Invalid) -> Date? {
        guard let value = value(key) else { return nil }
        guard case .number(let text) = value, let seconds = Double(text), seconds.isFinite else { throw Invalid(member: key) }
        return Date(timeIntervalSinceReferenceDate: seconds)
    }

    func uuid(_ key: String) throws(Invalid) -> UUID {
        guard let text = try optionalString(key), let id = UUID(text: text) else { throw Invalid(member: key) }
        return id
    }

    func nested(_ key: String) throws(Invalid) -> PayloadReader {
        guard let value = value(key) else { throw Invalid(member: key) }
        do { return try PayloadReader(value) } catch { throw Invalid(member: key) }
    }
}

/// Builds a payload's JSON object, leaving absent optionals out.
struct PayloadWriter {
    private(set) var members: [(key: String, value: JSONValue)] = []

    init(capacity: Int) { members.reserveCapacity(capacity) }

    var json: JSONValue { .object(JSONObject(distinctMembers: members)) }

    mutating func add(_ key: String, _ value: String?) {
        if let value { members.append((key, .string(value))) }
    }

    mutating func add(_ key: String, _ values: [String]) {
        members.append((key, .array(values.map(JSONValue.string))))
    }

    mutating func add(_ key: String, _ map: [String: String]) {
        members.append((key, .object(JSONObject(distinctMembers: map.map { (key: $0.key, value: .string($0.value)) }))))
    }

    mutating func add(_ key: String, _ value: Bool?) {
        if let value { members.append((key, .bool(value))) }
    }

    mutating func add(_ key: String, _ value: Int?) {
        if let value { members.append((key, .int(value))) }
    }

    /// Seconds since 2001-01-01 in the shortest text that reads back as the same number, as
    /// `JSONEncoder` writes a `Date`. (No date this server makes is infinite or NaN; one that were
    /// would be written as `null`, and the payload would then not read back: it fails closed.)
    mutating func add(_ key: String, _ value: Date?) {
        guard let value else { return }
        let seconds = value.timeIntervalSinceReferenceDate
        members.append((key, seconds.isFinite ? .number(seconds.description) : .null))
    }

    mutating func add(_ key: String, _ value: UUID) {
        members.append((key, .string(value.uppercaseText)))
    }

    mutating func add(_ key: String, _ value: JSONValue) {
        members.append((key, value))
    }
}

// MARK: - The payloads

extension AuthorizationRequest: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 16)
        writer.add("clientID", clientID)
        writer.add("redirectURI", redirectURI)
        writer.add("scopes", scopes)
        writer.add("state", state)
        writer.add("nonce", nonce)
        writer.add("codeChallenge", codeChallenge)
        writer.add("prompt", prompt)
        writer.add("maxAge", maxAge)
        writer.add("loginHint", loginHint)
        writer.add("hintSubject", hintSubject)
        writer.add("requiredACR", requiredACR)
        writer.add("userinfoClaims", userinfoClaims)
        writer.add("idTokenClaims", idTokenClaims)
        writer.add("dpopJKT", dpopJKT)
        writer.add("receivedAt", receivedAt)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(clientID: try p.string("clientID"), redirectURI: try p.string("redirectURI"), scopes: try p.strings("scopes"),
                  state: try p.optionalString("state"), nonce: try p.optionalString("nonce"), codeChallenge: try p.string("codeChallenge"),
                  prompt: try p.strings("prompt"), maxAge: try p.optionalInt("maxAge"), loginHint: try p.optionalString("loginHint"),
                  hintSubject: try p.optionalString("hintSubject"), requiredACR: try p.strings("requiredACR"),
                  userinfoClaims: try p.strings("userinfoClaims"), idTokenClaims: try p.strings("idTokenClaims"),
                  dpopJKT: try p.optionalString("dpopJKT"), receivedAt: try p.date("receivedAt"))
    }
}

extension Assurance: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 2)
        writer.add("acr", acr)
        writer.add("amr", amr)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(acr: try p.string("acr"), amr: try p.strings("amr"))
    }
}

extension OIDCProvider.Interaction: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 3)
        writer.add("request", request.payloadJSON)
        writer.add("consented", consented)
        writer.add("askedForSignIn", askedForSignIn)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(request: try AuthorizationRequest(payload: p.nested("request")), consented: try p.bool("consented"),
                  askedForSignIn: try p.bool("askedForSignIn"))
    }
}

extension CodeGrant: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 6)
        writer.add("request", request.payloadJSON)
        writer.add("userID", userID)
        writer.add("sessionID", sessionID)
        writer.add("authTime", authTime)
        writer.add("assurance", assurance.payloadJSON)
        writer.add("offline", offline)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(request: try AuthorizationRequest(payload: p.nested("request")), userID: try p.uuid("userID"), sessionID: try p.uuid("sessionID"),
                  authTime: try p.date("authTime"), assurance: try Assurance(payload: p.nested("assurance")), offline: try p.bool("offline"))
    }
}

extension RefreshGrant: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 7)
        writer.add("userID", userID)
        writer.add("sessionID", sessionID)
        writer.add("scopes", scopes)
        writer.add("authTime", authTime)
        writer.add("assurance", assurance.payloadJSON)
        writer.add("offline", offline)
        writer.add("dpopJKT", dpopJKT)
        if let userinfoClaims { writer.add("userinfoClaims", userinfoClaims) }
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(userID: try p.uuid("userID"), sessionID: try p.uuid("sessionID"), scopes: try p.strings("scopes"), authTime: try p.date("authTime"),
                  assurance: try Assurance(payload: p.nested("assurance")), offline: try p.bool("offline"), dpopJKT: try p.optionalString("dpopJKT"),
                  userinfoClaims: try p.optionalStrings("userinfoClaims"))
    }
}

extension AccessGrant: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 2)
        writer.add("scopes", scopes)
        writer.add("userinfoClaims", userinfoClaims)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(scopes: try p.strings("scopes"), userinfoClaims: try p.strings("userinfoClaims"))
    }
}

extension ConsentGrant: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 3)
        writer.add("scopes", scopes)
        writer.add("at", at)
        writer.add("remember", remember)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(scopes: try p.strings("scopes"), at: try p.date("at"), remember: try p.optionalBool("remember"))
    }
}

extension PushedRequest: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 3)
        writer.add("clientID", clientID)
        writer.add("parameters", parameters)
        writer.add("receivedAt", receivedAt)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(clientID: try p.string("clientID"), parameters: try p.stringMap("parameters"), receivedAt: try p.date("receivedAt"))
    }
}

extension DeviceGrantRequest: StoredPayload {
    var payloadJSON: JSONValue {
        var writer = PayloadWriter(capacity: 1)
        writer.add("scopes", scopes)
        return writer.json
    }

    init(payload p: PayloadReader) throws(PayloadReader.Invalid) {
        self.init(scopes: try p.strings("scopes"))
    }
}
