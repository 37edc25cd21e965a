import CBOR

/// Authenticator data (§6.1), parsed strictly and kept next to its exact bytes.
///
/// Layout: rpIdHash (32) | flags (1) | signCount (4, big-endian) | attestedCredentialData (if AT)
/// | extensions (one CBOR map, if ED). Every byte must be accounted for.
public struct AuthenticatorData: Sendable {
    /// The bytes as received; signatures are verified over these, never a re-encoding.
    public let rawBytes: [UInt8]
    /// SHA-256 of the RP ID the authenticator scoped the credential to.
    public let rpIDHash: ArraySlice<UInt8>
    /// The flags.
    public let flags: AuthenticatorFlags
    /// The signature counter.
    public let signCount: UInt32
    /// Present when AT is set.
    public let attestedCredentialData: AttestedCredentialData?
    /// The authenticator extension outputs, present when ED is set.
    public let extensions: CBORMap?

    /// The largest credential ID accepted (§7.1: at most 1023 bytes).
    public static let maximumCredentialIDLength = 1023

    /// Parses authenticator data.
    /// - Throws: ``WebAuthnError`` `malformed_authenticator_data`, `credential_id_length_invalid`,
    ///   `malformed_cbor`, or the key errors of ``CredentialPublicKey``.
    public init(bytes: [UInt8]) throws {
        // §6.1: 37 bytes at least.
        guard bytes.count >= 37 else {
            throw WebAuthnError(.malformedAuthenticatorData, "authenticator data is \(bytes.count) bytes, under 37")
        }
        rawBytes = bytes
        rpIDHash = bytes[0..<32]
        flags = AuthenticatorFlags(rawValue: bytes[32])
        signCount = UInt32(bytes[33]) << 24 | UInt32(bytes[34]) << 16 | UInt32(bytes[35]) << 8 | UInt32(bytes[36])
        var rest = bytes[37...]

        if flags.contains(.attestedCredentialData) {
            // §6.5.1: aaguid (16) | credentialIdLength (2) | credentialId (L) | credentialPublicKey.
            guard rest.count >= 18 else {
                throw WebAuthnError(.malformedAuthenticatorData, "AT is set but attested credential data is truncated")
            }
            let aaguid = Array(rest.prefix(16))
            rest = rest.dropFirst(16)
            let length = Int(rest[rest.startIndex]) << 8 | Int(rest[rest.startIndex + 1])
            rest = rest.dropFirst(2)
            guard (1...Self.maximumCredentialIDLength).contains(length) else {
                throw WebAuthnError(.credentialIDLengthInvalid, "credential ID length \(length) is outside 1...1023")
            }
            guard rest.count >= length else {
                throw WebAuthnError(.malformedAuthenticatorData, "credential ID length \(length) exceeds the data")
            }
            let credentialID = Array(rest.prefix(length))
            rest = rest.dropFirst(length)
            // The COSE key is measured by the bytes its CBOR consumed, never by re-encoding it.
            let decoded: (value: CBORValue, consumed: Int)
            do { decoded = try CBORDecoder.decodePrefix(rest) } catch let error as CBORError {
                throw WebAuthnError(.malformedCBOR, "credential public key: \(error.debugDescription)")
            }
            let keyBytes = Array(rest.prefix(decoded.consumed))
            rest = rest.dropFirst(decoded.consumed)
            attestedCredentialData = AttestedCredentialData(
                aaguid: AAGUID(bytes: aaguid),
                credentialID: credentialID,
                publicKeyBytes: keyBytes,
                publicKeyCOSE: decoded.value
            )
        } else {
            attestedCredentialData = nil
        }

        if flags.contains(.extensionData) {
            guard !rest.isEmpty else { throw WebAuthnError(.malformedAuthenticatorData, "ED is set but no extensions follow") }
            let decoded: (value: CBORValue, consumed: Int)
            do { decoded = try CBORDecoder.decodePrefix(rest) } catch let error as CBORError {
                throw WebAuthnError(.malformedCBOR, "extensions: \(error.debugDescription)")
            }
            guard let map = decoded.value.map else {
                throw WebAuthnError(.malformedAuthenticatorData, "extensions are not a CBOR map")
            }
            extensions = map
            rest = rest.dropFirst(decoded.consumed)
        } else {
            extensions = nil
        }

        guard rest.isEmpty else {
            throw WebAuthnError(.malformedAuthenticatorData, "\(rest.count) bytes left over after authenticator data")
        }
    }
}

/// Attested credential data (§6.5.1).
public struct AttestedCredentialData: Sendable {
    /// The authenticator model's AAGUID.
    public let aaguid: AAGUID
    /// The credential ID, 1 to 1023 bytes.
    public let credentialID: [UInt8]
    /// The COSE_Key bytes exactly as they stand in the authenticator data.
    public let publicKeyBytes: [UInt8]
    /// The decoded COSE_Key, not yet validated (see ``CredentialPublicKey``).
    public let publicKeyCOSE: CBORValue
}

/// An authenticator model identifier (16 bytes).
public struct AAGUID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes.
    public let bytes: [UInt8]
    /// Wraps 16 bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The all-zero AAGUID (U2F authenticators, and authenticators that hide their model).
    public static let zero = AAGUID(bytes: [UInt8](repeating: 0, count: 16))

    /// Parses the 8-4-4-4-12 hexadecimal form, in either case. (Read on every sign-in, to name the
    /// passkey's provider.)
    public init?(string: String) {
        guard let bytes = uuidFormBytes(string) else { return nil }
        self.bytes = bytes
    }

    /// Lower-case 8-4-4-4-12 (plain hexadecimal for bytes that are not 16).
    public var description: String { bytes.withUnsafeBytes { uuidForm($0) } }
}
