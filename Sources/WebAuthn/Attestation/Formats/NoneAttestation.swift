import CBOR
/// §8.7 None attestation: attStmt must be the empty map.
enum NoneAttestation {
    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        guard try context.map().isEmpty else {
            throw WebAuthnError(.attestationInvalid, "none attStmt is not empty")
        }
        return AttestationStatementResult(type: .none)
    }
}
