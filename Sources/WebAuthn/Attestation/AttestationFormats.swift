import CBOR
/// The attestation statement formats this verifier implements (§8), by their registered names.
public enum AttestationFormats {
    /// The registered identifiers this verifier accepts, matched case-sensitively (§7.1 step 22).
    public static let supported: [String] = ["none", "packed", "tpm", "android-key", "android-safetynet", "fido-u2f", "apple", "compound"]

    static func verify(format: String, context: AttestationContext) throws -> AttestationStatementResult {
        switch format {
        case "none": return try NoneAttestation.verify(context)
        case "packed": return try PackedAttestation.verify(context)
        case "tpm": return try TPMAttestation.verify(context)
        case "android-key": return try AndroidKeyAttestation.verify(context)
        case "android-safetynet": return try AndroidSafetyNetAttestation.verify(context)
        case "fido-u2f": return try FIDOU2FAttestation.verify(context)
        case "apple": return try AppleAttestation.verify(context)
        case "compound": return try CompoundAttestation.verify(context)
        default:
            throw WebAuthnError(.unsupportedAttestationFormat, "attestation format \"\(format.prefix(32))\" is not supported")
        }
    }
}
