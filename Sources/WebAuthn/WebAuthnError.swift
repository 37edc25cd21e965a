import CBOR
/// The one error type of the WebAuthn module.
///
/// Equality compares the ``code`` only. ``code`` is stable and safe to hand to a client; the
/// ``detail`` is for a person operating the server (logs, the `portcullis webauthn` command) and the
/// source location is for debugging. Neither of the last two belongs in an HTTP response.
public struct WebAuthnError: Error, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// A stable, snake_case reason for a rejection.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The snake_case spelling, stable across releases.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// The PublicKeyCredential JSON envelope is malformed (missing members, wrong types, bad base64url).
        public static let malformedResponse = Code("malformed_response")
        /// A field is larger than this verifier accepts.
        public static let responseTooLarge = Code("response_too_large")
        /// clientDataJSON is not valid UTF-8 JSON object text with the required members.
        public static let malformedClientData = Code("malformed_client_data")
        /// CBOR in the attestation object, authenticator data or a key is malformed.
        public static let malformedCBOR = Code("malformed_cbor")
        /// authenticatorData is malformed (lengths, flags inconsistent with content, leftover bytes).
        public static let malformedAuthenticatorData = Code("malformed_authenticator_data")
        /// `clientData.type` is not the one this ceremony expects.
        public static let clientDataTypeMismatch = Code("client_data_type_mismatch")
        /// `clientData.challenge` is not the expected challenge.
        public static let challengeMismatch = Code("challenge_mismatch")
        /// `clientData.origin` is not an allowed origin.
        public static let originMismatch = Code("origin_mismatch")
        /// `crossOrigin: true` or a `topOrigin` the relying party does not allow.
        public static let crossOriginNotAllowed = Code("cross_origin_not_allowed")
        /// `tokenBinding.status` is `present`; this server never negotiates Token Binding.
        public static let tokenBindingNotSupported = Code("token_binding_not_supported")
        /// rpIdHash is not SHA-256 of the RP ID.
        public static let rpIDHashMismatch = Code("rp_id_hash_mismatch")
        /// The UP flag is not set.
        public static let userPresenceMissing = Code("user_presence_missing")
        /// The UV flag is not set although user verification is required.
        public static let userVerificationMissing = Code("user_verification_missing")
        /// BS is set without BE.
        public static let backupStateInvalid = Code("backup_state_invalid")
        /// BE differs from the value recorded at registration.
        public static let backupEligibilityChanged = Code("backup_eligibility_changed")
        /// `id`, `rawId` and the attested credential ID do not agree, or the credential is not allowed.
        public static let credentialIDMismatch = Code("credential_id_mismatch")
        /// The credential ID is empty or longer than 1023 bytes.
        public static let credentialIDLengthInvalid = Code("credential_id_length_invalid")
        /// The algorithm is not one the relying party offered, or is not implemented.
        public static let unsupportedAlgorithm = Code("unsupported_algorithm")
        /// The public key is malformed, off the curve, too small or inconsistent with its algorithm.
        public static let invalidPublicKey = Code("invalid_public_key")
        /// A signature does not verify.
        public static let badSignature = Code("bad_signature")
        /// The signature counter did not increase.
        public static let signCountRegression = Code("sign_count_regression")
        /// The user handle is missing where required or is not the expected user's.
        public static let userHandleMismatch = Code("user_handle_mismatch")
        /// The attestation statement format is unknown or not accepted.
        public static let unsupportedAttestationFormat = Code("unsupported_attestation_format")
        /// The attestation statement does not verify.
        public static let attestationInvalid = Code("attestation_invalid")
        /// The attestation verified but does not chain to a trust anchor, and trust is required.
        public static let attestationUntrusted = Code("attestation_untrusted")
        /// Metadata reports the authenticator model as compromised or revoked.
        public static let authenticatorRevoked = Code("authenticator_revoked")
        /// A relying-party configuration value is invalid (origin, RP ID, anchors).
        public static let invalidConfiguration = Code("invalid_configuration")
        /// A FIDO Metadata Service BLOB could not be verified or parsed.
        public static let metadataInvalid = Code("metadata_invalid")

        public var description: String { rawValue }
    }

    /// The stable reason code.
    public let code: Code
    /// A sentence for an operator saying what failed. Never send it to a browser.
    public let detail: String
    private let file: String
    private let line: UInt

    /// Creates an error.
    public init(_ code: Code, _ detail: String, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.detail = detail
        self.file = file
        self.line = line
    }

    public static func == (lhs: WebAuthnError, rhs: WebAuthnError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// Only the code: safe to log anywhere and to show to a client.
    public var description: String { "WebAuthnError.\(code)" }
    public var debugDescription: String { "WebAuthnError.\(code): \(detail) (\(file):\(line))" }
}
