import Foundation
import WebAuthn
import X509

/// Builds FIDO MDS v3 BLOBs signed by a test PKI.
public enum MetadataBLOBFixture {
    /// One entry of the BLOB.
    public struct Entry: Sendable {
        /// The model's AAGUID.
        public var aaguid: AAGUID
        /// Its attestation roots.
        public var roots: [X509CertificateBox]
        /// The status of each status report.
        public var statuses: [String]
        /// The description.
        public var description: String
        /// Replaces the roots' base64 text as written (for malformed BLOBs).
        public var rawRoots: [String]?

        public init(aaguid: AAGUID, roots: [X509CertificateBox], statuses: [String] = ["FIDO_CERTIFIED"], description: String = "Portcullis Test Authenticator") {
            self.aaguid = aaguid
            self.roots = roots
            self.statuses = statuses
            self.description = description
        }
    }

    /// A BLOB signed with a leaf issued by `pki`'s intermediate; its MDS root is `pki.root`.
    public static func make(pki: TestPKI, entries: [Entry], corruptSignature: Bool = false) -> [UInt8] {
        let signer = TestKey(.es256)
        let leaf = pki.issue(
            subject: (try? DistinguishedName { CountryName("US"); OrganizationName("FIDO Alliance"); CommonName("Metadata TOC Signer 3") }) ?? DistinguishedName(),
            publicKey: signer.certificatePublicKey)
        let header: JSONValue = .object([
            "alg": .string("ES256"), "typ": .string("JWT"),
            "x5c": .array([.string(Data(leaf.der).base64EncodedString()), .string(Data(pki.intermediate.der).base64EncodedString())]),
        ])
        let payload: JSONValue = .object([
            "legalHeader": .string("Test data."),
            "no": .int(42),
            "nextUpdate": .string("2026-02-01"),
            "entries": .array(entries.map { entry in
                .object([
                    "aaguid": .string(entry.aaguid.description),
                    "metadataStatement": .object([
                        "description": .string(entry.description),
                        "attestationRootCertificates": .array((entry.rawRoots ?? entry.roots.map { Data($0.der).base64EncodedString() }).map(JSONValue.string)),
                    ]),
                    "statusReports": .array(entry.statuses.map { .object(["status": .string($0), "effectiveDate": .string("2025-01-01")]) }),
                    "timeOfLastStatusChange": .string("2025-01-01"),
                ])
            } + [.object(["attestationCertificateKeyIdentifiers": .array([.string("abcd")]), "statusReports": .array([])])]),
        ])
        return Array(CompactJWSBuilder.sign(header: header, payload: payload, key: signer, corrupt: corruptSignature).utf8)
    }
}
