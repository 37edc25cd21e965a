import CBOR
/// Limits on the sizes of the fields of a credential response, checked before anything is parsed.
public enum ResponseLimits {
    /// The largest JSON body accepted for one credential.
    public static let maximumJSONBytes = 64 * 1024
    /// The largest clientDataJSON accepted.
    public static let maximumClientDataBytes = 8 * 1024
    /// The largest attestationObject accepted (attestation chains can be a few kilobytes).
    public static let maximumAttestationObjectBytes = 48 * 1024
    /// The largest authenticatorData accepted in an assertion.
    public static let maximumAuthenticatorDataBytes = 8 * 1024
}

/// Reads the members of a PublicKeyCredential JSON envelope strictly.
struct EnvelopeReader {
    let object: JSONObject
    let path: String

    init(_ value: JSONValue, path: String) throws {
        guard let object = value.object else { throw WebAuthnError(.malformedResponse, "\(path) is not a JSON object") }
        self.object = object
        self.path = path
    }

    func string(_ key: String) throws -> String {
        guard let value = object[key] else { throw WebAuthnError(.malformedResponse, "\(path).\(key) is missing") }
        guard let s = value.string else { throw WebAuthnError(.malformedResponse, "\(path).\(key) is not a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw WebAuthnError(.malformedResponse, "\(path).\(key) is not a string")
        }
    }

    /// A strict base64url member (URL alphabet, no padding, no white space).
    func bytes(_ key: String, limit: Int) throws -> [UInt8] {
        try decode(try string(key), key: key, limit: limit)
    }

    func optionalBytes(_ key: String, limit: Int) throws -> [UInt8]? {
        guard let s = try optionalString(key) else { return nil }
        return try decode(s, key: key, limit: limit)
    }

    private func decode(_ s: String, key: String, limit: Int) throws -> [UInt8] {
        guard s.utf8.count <= (limit * 4 + 2) / 3 else {
            throw WebAuthnError(.responseTooLarge, "\(path).\(key) is over \(limit) bytes")
        }
        guard let bytes = Base64URL.decode(s) else {
            throw WebAuthnError(.malformedResponse, "\(path).\(key) is not strict base64url")
        }
        return bytes
    }

    func child(_ key: String) throws -> EnvelopeReader {
        guard let value = object[key] else { throw WebAuthnError(.malformedResponse, "\(path).\(key) is missing") }
        return try EnvelopeReader(value, path: "\(path).\(key)")
    }

    static func parse(json: some Collection<UInt8>) throws -> JSONValue {
        guard json.count <= ResponseLimits.maximumJSONBytes else {
            throw WebAuthnError(.responseTooLarge, "the credential JSON is over \(ResponseLimits.maximumJSONBytes) bytes")
        }
        do { return try StrictJSON.parse(json) } catch {
            throw WebAuthnError(.malformedResponse, "\(error)")
        }
    }
}

/// Members common to both responses: `id`, `rawId`, `type`, client extension results.
public struct CredentialEnvelope: Sendable {
    /// The credential ID (`rawId`), which `id` was checked to encode.
    public let rawID: [UInt8]
    /// `authenticatorAttachment`, for display only: it is never a security input (§5.8.8 hints).
    public let authenticatorAttachment: String?
    /// `clientExtensionResults` as sent.
    public let clientExtensionResults: JSONObject

    init(reader: EnvelopeReader, rawIDLimit: Int) throws {
        // Checklist A.2: type must be "public-key".
        guard try reader.string("type") == "public-key" else {
            throw WebAuthnError(.malformedResponse, "credential.type is not \"public-key\"")
        }
        let id = try reader.string("id")
        let rawID = try reader.bytes("rawId", limit: rawIDLimit)
        // Checklist A.1: id must be base64url(rawId), exactly.
        guard Base64URL.encode(rawID) == id else {
            throw WebAuthnError(.credentialIDMismatch, "credential.id is not base64url(credential.rawId)")
        }
        // §7.1 step 26 bounds credential IDs to 1023 bytes; nothing longer names a credential here.
        guard (1...AuthenticatorData.maximumCredentialIDLength).contains(rawID.count) else {
            throw WebAuthnError(.credentialIDLengthInvalid, "credential.rawId is \(rawID.count) bytes, outside 1...1023")
        }
        self.rawID = rawID
        self.authenticatorAttachment = try reader.optionalString("authenticatorAttachment")
        switch reader.object["clientExtensionResults"] {
        case nil: clientExtensionResults = [:]
        case .object(let o)?: clientExtensionResults = o
        default: throw WebAuthnError(.malformedResponse, "credential.clientExtensionResults is not an object")
        }
    }
}

/// A RegistrationResponseJSON (WebAuthn L3 §5.1.8), decoded but not yet verified.
public struct RegistrationResponse: Sendable {
    /// The envelope.
    public let credential: CredentialEnvelope
    /// `response.clientDataJSON` bytes.
    public let clientDataJSON: [UInt8]
    /// `response.attestationObject` bytes.
    public let attestationObject: [UInt8]
    /// `response.transports`, as sent (hints for later sign-ins, never a security input).
    public let transports: [String]

    /// Decodes RegistrationResponseJSON text.
    /// - Throws: ``WebAuthnError`` `malformed_response`, `response_too_large` or `credential_id_mismatch`.
    public init(json: some Collection<UInt8>) throws {
        try self.init(value: try EnvelopeReader.parse(json: json))
    }

    /// Decodes an already parsed RegistrationResponseJSON value.
    public init(value: JSONValue) throws {
        let reader = try EnvelopeReader(value, path: "credential")
        credential = try CredentialEnvelope(reader: reader, rawIDLimit: 4096)
        let response = try reader.child("response")
        clientDataJSON = try response.bytes("clientDataJSON", limit: ResponseLimits.maximumClientDataBytes)
        attestationObject = try response.bytes("attestationObject", limit: ResponseLimits.maximumAttestationObjectBytes)
        switch response.object["transports"] {
        case nil: transports = []
        case .array(let items)?:
            transports = try items.map {
                guard let s = $0.string, s.count <= 32 else { throw WebAuthnError(.malformedResponse, "a transport is not a short string") }
                return s
            }
            guard transports.count <= 16 else { throw WebAuthnError(.malformedResponse, "too many transports") }
        default: throw WebAuthnError(.malformedResponse, "credential.response.transports is not an array")
        }
    }
}

/// An AuthenticationResponseJSON (WebAuthn L3 §5.1.9), decoded but not yet verified.
public struct AuthenticationResponse: Sendable {
    /// The envelope.
    public let credential: CredentialEnvelope
    /// `response.clientDataJSON` bytes.
    public let clientDataJSON: [UInt8]
    /// `response.authenticatorData` bytes.
    public let authenticatorData: [UInt8]
    /// `response.signature` bytes.
    public let signature: [UInt8]
    /// `response.userHandle` bytes, when present.
    public let userHandle: [UInt8]?

    /// Decodes AuthenticationResponseJSON text.
    /// - Throws: ``WebAuthnError`` `malformed_response`, `response_too_large` or `credential_id_mismatch`.
    public init(json: some Collection<UInt8>) throws {
        try self.init(value: try EnvelopeReader.parse(json: json))
    }

    /// Decodes an already parsed AuthenticationResponseJSON value.
    public init(value: JSONValue) throws {
        let reader = try EnvelopeReader(value, path: "credential")
        credential = try CredentialEnvelope(reader: reader, rawIDLimit: 4096)
        let response = try reader.child("response")
        clientDataJSON = try response.bytes("clientDataJSON", limit: ResponseLimits.maximumClientDataBytes)
        authenticatorData = try response.bytes("authenticatorData", limit: ResponseLimits.maximumAuthenticatorDataBytes)
        signature = try response.bytes("signature", limit: 2048)
        userHandle = try response.optionalBytes("userHandle", limit: 64)
    }
}
