import CBOR

/// An attestation object (§6.5.4): `{fmt, attStmt, authData}` and nothing else.
public struct AttestationObject: Sendable {
    /// The attestation statement format identifier, as sent.
    public let format: String
    /// The attestation statement (a map; an array for `compound`).
    public let statement: CBORValue
    /// The parsed authenticator data.
    public let authenticatorData: AuthenticatorData

    /// Decodes an attestation object.
    /// - Throws: ``WebAuthnError`` `malformed_cbor`, `unsupported_attestation_format`, or an
    ///   authenticator data error.
    public init(bytes: [UInt8]) throws {
        let value: CBORValue
        do { value = try CBORDecoder.decode(bytes) } catch let error as CBORError {
            throw WebAuthnError(.malformedCBOR, "attestationObject: \(error.debugDescription)")
        }
        guard let map = value.map else { throw WebAuthnError(.malformedCBOR, "attestationObject is not a map") }
        guard map.count == 3, let fmt = map[text: "fmt"], let attStmt = map[text: "attStmt"], let authData = map[text: "authData"] else {
            throw WebAuthnError(.malformedCBOR, "attestationObject must hold exactly fmt, attStmt and authData")
        }
        guard let format = fmt.text else { throw WebAuthnError(.malformedCBOR, "attestationObject.fmt is not text") }
        // §8.1: identifiers are at most 32 ASCII characters; they are matched case-sensitively later.
        guard (1...32).contains(format.utf8.count), format.allSatisfy(\.isASCII) else {
            throw WebAuthnError(.unsupportedAttestationFormat, "attestationObject.fmt is not a valid identifier")
        }
        guard let authDataBytes = authData.bytes else { throw WebAuthnError(.malformedCBOR, "attestationObject.authData is not bytes") }
        switch (format, attStmt) {
        case ("compound", .array): break
        case (_, .map) where format != "compound": break
        default: throw WebAuthnError(.malformedCBOR, "attestationObject.attStmt has the wrong type for \(format.prefix(32))")
        }
        self.format = format
        self.statement = attStmt
        self.authenticatorData = try AuthenticatorData(bytes: authDataBytes)
    }
}
