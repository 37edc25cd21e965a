import CBOR
/// §8.9 Compound attestation: an array of at least two statements, none compound, all verified.
enum CompoundAttestation {
    static func verify(_ context: AttestationContext) throws -> AttestationStatementResult {
        guard let items = context.statement.array else {
            throw WebAuthnError(.attestationInvalid, "compound attStmt is not an array")
        }
        guard items.count >= 2 else { throw WebAuthnError(.attestationInvalid, "compound attStmt holds fewer than two statements") }
        guard items.count <= 8 else { throw WebAuthnError(.attestationInvalid, "compound attStmt holds more than eight statements") }
        var results: [(format: String, result: AttestationStatementResult)] = []
        for item in items {
            guard let map = item.map, map.count == 2, let format = map[text: "fmt"]?.text, let statement = map[text: "attStmt"] else {
                throw WebAuthnError(.attestationInvalid, "a compound entry is not {fmt, attStmt}")
            }
            guard format != "compound" else { throw WebAuthnError(.attestationInvalid, "compound statements cannot nest") }
            let sub = AttestationContext(
                statement: statement,
                authenticatorData: context.authenticatorData,
                attestedCredential: context.attestedCredential,
                credentialKey: context.credentialKey,
                clientDataHash: context.clientDataHash,
                now: context.now
            )
            results.append((format, try AttestationFormats.verify(format: format, context: sub)))
        }
        let first = results[0].result
        return AttestationStatementResult(type: first.type, trustPath: [], subStatements: results)
    }
}
