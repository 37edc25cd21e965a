import CBOR
/// Collected client data (§5.8.1), parsed from the exact clientDataJSON bytes.
public struct CollectedClientData: Sendable {
    /// The exact bytes received. They are hashed as they are, never re-serialized.
    public let rawBytes: [UInt8]
    /// `webauthn.create` or `webauthn.get`.
    public let type: String
    /// The challenge, as the base64url text the client wrote.
    public let challenge: String
    /// The serialized origin of the caller.
    public let origin: String
    /// `crossOrigin`, when present.
    public let crossOrigin: Bool?
    /// `topOrigin`, when present.
    public let topOrigin: String?
    /// `tokenBinding.status`, when present.
    public let tokenBindingStatus: String?

    /// Parses clientDataJSON.
    ///
    /// §7.1 step 5 / §7.2 step 8: UTF-8 decode (a leading BOM is stripped, invalid UTF-8 refused).
    /// §7.1 step 6 / §7.2 step 9: parse as JSON; this parser refuses duplicate keys and non-objects.
    /// Unknown members are tolerated, as §5.8.1 requires.
    /// - Throws: ``WebAuthnError`` `malformed_client_data` or `token_binding_not_supported`.
    public init(bytes: [UInt8]) throws {
        rawBytes = bytes
        var text = bytes[...]
        if text.starts(with: [0xEF, 0xBB, 0xBF]) { text = text.dropFirst(3) }
        let json: JSONValue
        do { json = try StrictJSON.parse(text) } catch {
            throw WebAuthnError(.malformedClientData, "clientDataJSON: \(error)")
        }
        guard let object = json.object else { throw WebAuthnError(.malformedClientData, "clientDataJSON is not a JSON object") }
        guard let type = object["type"]?.string else { throw WebAuthnError(.malformedClientData, "clientDataJSON.type is missing or not a string") }
        guard let challenge = object["challenge"]?.string else {
            throw WebAuthnError(.malformedClientData, "clientDataJSON.challenge is missing or not a string")
        }
        guard let origin = object["origin"]?.string else {
            throw WebAuthnError(.malformedClientData, "clientDataJSON.origin is missing or not a string")
        }
        self.type = type
        self.challenge = challenge
        self.origin = origin
        switch object["crossOrigin"] {
        case nil, .null?: crossOrigin = nil
        case .bool(let b)?: crossOrigin = b
        default: throw WebAuthnError(.malformedClientData, "clientDataJSON.crossOrigin is not a boolean")
        }
        switch object["topOrigin"] {
        case nil: topOrigin = nil
        case .string(let s)?: topOrigin = s
        default: throw WebAuthnError(.malformedClientData, "clientDataJSON.topOrigin is not a string")
        }
        switch object["tokenBinding"] {
        case nil:
            tokenBindingStatus = nil
        case .object(let binding)?:
            guard let status = binding["status"]?.string else {
                throw WebAuthnError(.malformedClientData, "clientDataJSON.tokenBinding.status is missing")
            }
            tokenBindingStatus = status
        default:
            throw WebAuthnError(.malformedClientData, "clientDataJSON.tokenBinding is not an object")
        }
        // This server never negotiates Token Binding, so a client claiming it is present is refused.
        if tokenBindingStatus == "present" {
            throw WebAuthnError(.tokenBindingNotSupported, "tokenBinding.status is \"present\" but this server does not use Token Binding")
        }
    }
}
