import CBOR
import Crypto
import Foundation
import WebAuthn

/// A software authenticator and client in one: it makes WebAuthn L3 JSON responses with real keys.
///
/// Every part of a response is a field that a test may change before the response is built, so the
/// malformed variants come from the same code as the valid ones; signatures are computed over the
/// parts as they are when ``RegistrationFixture/json()`` or ``AssertionFixture/json()`` runs.
public struct VirtualAuthenticator: Sendable {
    /// The RP ID the authenticator scopes credentials to.
    public var rpID: String
    /// The origin the client reports.
    public var origin: String
    /// The authenticator model.
    public var aaguid: AAGUID

    /// Creates an authenticator for `rpID` used from `origin`.
    public init(rpID: String = "example.org", origin: String = "https://example.org", aaguid: AAGUID = AAGUID(bytes: Array(0x01...0x10))) {
        self.rpID = rpID
        self.origin = origin
        self.aaguid = aaguid
    }

    /// A registration response under construction.
    public func registration(
        challenge: [UInt8],
        algorithm: COSEAlgorithm = .es256,
        attestation: AttestationFixture = .none,
        credentialID: [UInt8]? = nil
    ) -> RegistrationFixture {
        let key = TestKey(algorithm)
        let id = credentialID ?? Array(SHA256.hash(data: key.coseBytes).prefix(16))
        return RegistrationFixture(
            key: key,
            clientData: ClientDataFixture(type: "webauthn.create", challenge: Base64URL.encode(challenge), origin: origin),
            authenticatorData: AuthenticatorDataFixture(
                rpIDHash: Array(SHA256.hash(data: Array(rpID.utf8))),
                flags: [.userPresent, .userVerified, .attestedCredentialData],
                signCount: 0,
                aaguid: aaguid,
                credentialID: id,
                credentialPublicKey: key.coseBytes
            ),
            attestation: attestation
        )
    }

    /// An assertion response under construction, for a credential made by ``registration(challenge:algorithm:attestation:credentialID:)``.
    public func assertion(challenge: [UInt8], credential: RegistrationFixture, signCount: UInt32 = 1, userHandle: [UInt8]? = Array("user-1".utf8)) -> AssertionFixture {
        AssertionFixture(
            key: credential.key,
            credentialID: credential.authenticatorData.credentialID,
            clientData: ClientDataFixture(type: "webauthn.get", challenge: Base64URL.encode(challenge), origin: origin),
            authenticatorData: AuthenticatorDataFixture(
                rpIDHash: Array(SHA256.hash(data: Array(rpID.utf8))),
                flags: [.userPresent, .userVerified],
                signCount: signCount,
                aaguid: nil,
                credentialID: [],
                credentialPublicKey: []
            ),
            userHandle: userHandle
        )
    }
}

/// clientDataJSON parts.
public struct ClientDataFixture: Sendable {
    /// `type`.
    public var type: String
    /// `challenge`, as text.
    public var challenge: String
    /// `origin`.
    public var origin: String
    /// `crossOrigin`.
    public var crossOrigin: Bool? = false
    /// `topOrigin`.
    public var topOrigin: String?
    /// Extra members, appended in order.
    public var extra: [(String, JSONValue)] = []
    /// Replaces the whole JSON text when set.
    public var rawOverride: [UInt8]?

    /// Client data of `type` for `challenge` (base64url text) from `origin`.
    public init(type: String, challenge: String, origin: String) {
        self.type = type
        self.challenge = challenge
        self.origin = origin
    }

    /// The JSON bytes, members in the order browsers write them.
    public var bytes: [UInt8] {
        if let rawOverride { return rawOverride }
        var object: JSONObject = ["type": .string(type), "challenge": .string(challenge), "origin": .string(origin)]
        if let crossOrigin { object["crossOrigin"] = .bool(crossOrigin) }
        if let topOrigin { object["topOrigin"] = .string(topOrigin) }
        for (k, v) in extra { object[k] = v }
        return StrictJSON.serializedBytes(.object(object))
    }
}

/// Authenticator data parts.
public struct AuthenticatorDataFixture: Sendable {
    /// rpIdHash.
    public var rpIDHash: [UInt8]
    /// Flags. AT and ED decide what is written after the counter.
    public var flags: AuthenticatorFlags
    /// signCount.
    public var signCount: UInt32
    /// The AAGUID (with AT).
    public var aaguid: AAGUID?
    /// The credential ID (with AT).
    public var credentialID: [UInt8]
    /// The COSE key bytes (with AT).
    public var credentialPublicKey: [UInt8]
    /// Extension bytes (with ED): one CBOR map.
    public var extensions: [UInt8]?
    /// Bytes appended at the very end.
    public var trailing: [UInt8] = []
    /// Overrides the 2-byte credential ID length.
    public var credentialIDLengthOverride: UInt16?

    /// The encoded authenticator data.
    public var bytes: [UInt8] {
        var out = rpIDHash
        out.append(flags.rawValue)
        out += [UInt8(signCount >> 24), UInt8((signCount >> 16) & 0xFF), UInt8((signCount >> 8) & 0xFF), UInt8(signCount & 0xFF)]
        if flags.contains(.attestedCredentialData) {
            out += (aaguid ?? .zero).bytes
            let length = credentialIDLengthOverride ?? UInt16(credentialID.count)
            out += [UInt8(length >> 8), UInt8(length & 0xFF)]
            out += credentialID
            out += credentialPublicKey
        }
        if flags.contains(.extensionData) { out += extensions ?? [] }
        return out + trailing
    }
}

/// A registration response under construction.
public struct RegistrationFixture: Sendable {
    /// The credential key.
    public let key: TestKey
    /// clientDataJSON parts.
    public var clientData: ClientDataFixture
    /// authenticatorData parts.
    public var authenticatorData: AuthenticatorDataFixture
    /// The attestation statement builder.
    public var attestation: AttestationFixture
    /// Replaces `fmt` while keeping the statement.
    public var formatOverride: String?
    /// Replaces the JSON `id`.
    public var idOverride: String?
    /// Replaces the JSON `rawId`.
    public var rawIDOverride: String?
    /// Client extension results.
    public var clientExtensionResults: JSONObject = ["credProps": .object(["rk": .bool(true)])]
    /// Changes the attestation object bytes after they are built.
    public var attestationObjectTransform: (@Sendable ([UInt8]) -> [UInt8])?

    /// The credential ID in authenticator data.
    public var credentialID: [UInt8] { authenticatorData.credentialID }

    /// The attestation object bytes.
    public var attestationObject: [UInt8] {
        let authData = authenticatorData.bytes
        let clientDataHash = Array(SHA256.hash(data: clientData.bytes))
        let statement = attestation.statement(for: AttestationInput(
            authenticatorData: authData, clientDataHash: clientDataHash, credentialKey: key,
            credentialID: authenticatorData.credentialID, aaguid: authenticatorData.aaguid ?? .zero,
            rpIDHash: authenticatorData.rpIDHash))
        let object = CBOREncoder.encode(.map(CBORMap([
            (.text("fmt"), .text(formatOverride ?? attestation.format)),
            (.text("attStmt"), statement),
            (.text("authData"), .bytes(authData)),
        ])))
        return attestationObjectTransform?(object) ?? object
    }

    /// The RegistrationResponseJSON value.
    public var jsonValue: JSONValue {
        let id = Base64URL.encode(authenticatorData.credentialID)
        return .object([
            "id": .string(idOverride ?? id),
            "rawId": .string(rawIDOverride ?? id),
            "type": .string("public-key"),
            "response": .object([
                "clientDataJSON": .string(Base64URL.encode(clientData.bytes)),
                "attestationObject": .string(Base64URL.encode(attestationObject)),
                "transports": .array([.string("internal"), .string("hybrid")]),
            ]),
            "authenticatorAttachment": .string("platform"),
            "clientExtensionResults": .object(clientExtensionResults),
        ])
    }

    /// The RegistrationResponseJSON text.
    public func json() -> [UInt8] { StrictJSON.serializedBytes(jsonValue) }
}

/// An assertion response under construction.
public struct AssertionFixture: Sendable {
    /// The credential key.
    public let key: TestKey
    /// The credential ID.
    public var credentialID: [UInt8]
    /// clientDataJSON parts.
    public var clientData: ClientDataFixture
    /// authenticatorData parts.
    public var authenticatorData: AuthenticatorDataFixture
    /// The user handle, or `nil` to leave it out.
    public var userHandle: [UInt8]?
    /// Changes the signature after it is made.
    public var signatureTransform: (@Sendable ([UInt8]) -> [UInt8])?
    /// Signs with another key.
    public var signingKey: TestKey?

    /// The signature over authenticatorData || SHA-256(clientDataJSON).
    public var signature: [UInt8] {
        let signed = authenticatorData.bytes + Array(SHA256.hash(data: clientData.bytes))
        let sig = (signingKey ?? key).sign(signed)
        return signatureTransform?(sig) ?? sig
    }

    /// The AuthenticationResponseJSON value.
    public var jsonValue: JSONValue {
        let id = Base64URL.encode(credentialID)
        var response: JSONObject = [
            "clientDataJSON": .string(Base64URL.encode(clientData.bytes)),
            "authenticatorData": .string(Base64URL.encode(authenticatorData.bytes)),
            "signature": .string(Base64URL.encode(signature)),
        ]
        if let userHandle { response["userHandle"] = .string(Base64URL.encode(userHandle)) }
        return .object([
            "id": .string(id), "rawId": .string(id), "type": .string("public-key"),
            "response": .object(response), "clientExtensionResults": .object([:]),
        ])
    }

    /// The AuthenticationResponseJSON text.
    public func json() -> [UInt8] { StrictJSON.serializedBytes(jsonValue) }
}
