import CBOR
/// The attestation type an attestation statement establishes (§6.5.4).
public struct AttestationType: Hashable, Sendable, CustomStringConvertible {
    /// The lower-case name used in JSON output: none, self, basic, attca, anonca.
    public let rawValue: String
    private init(_ rawValue: String) { self.rawValue = rawValue }

    /// No attestation.
    public static let none = AttestationType("none")
    /// Self attestation: signed by the credential key itself.
    public static let `self` = AttestationType("self")
    /// Basic attestation: a batch attestation key.
    public static let basic = AttestationType("basic")
    /// Attestation CA: a per-device key certified by a CA (TPM).
    public static let attCA = AttestationType("attca")
    /// Anonymization CA: a per-credential certificate (Apple).
    public static let anonCA = AttestationType("anonca")

    public var description: String { rawValue }
}

/// What verifying an attestation statement established, before any trust decision.
public struct AttestationStatementResult: Sendable {
    /// The attestation type.
    public let type: AttestationType
    /// The certificate path from the statement, attestation certificate first. Empty for none and self.
    public let trustPath: [X509CertificateBox]
    /// For compound statements, the result of each sub-statement, by format.
    public let subStatements: [(format: String, result: AttestationStatementResult)]
    /// Whether the statement's signature is made with SHA-1 (a TPM's RS1): valid, and trusted only
    /// where ``AttestationTrust/trustsSHA1Statements`` says so.
    public let signedWithSHA1: Bool

    init(type: AttestationType, trustPath: [X509CertificateBox] = [], subStatements: [(format: String, result: AttestationStatementResult)] = [],
         signedWithSHA1: Bool = false) {
        self.type = type
        self.trustPath = trustPath
        self.subStatements = subStatements
        self.signedWithSHA1 = signedWithSHA1
    }
}
