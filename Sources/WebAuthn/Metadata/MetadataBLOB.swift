import CBOR
import Foundation
import X509

/// A FIDO Metadata Service v3 BLOB, verified.
///
/// The BLOB is a JWS whose x5c header chains to an MDS root the operator configures. Each entry gives
/// an authenticator model's attestation roots (anchors for that AAGUID only) and its status reports.
public struct MetadataBLOB: Sendable {
    /// The BLOB's serial number (`no`).
    public let number: Int64
    /// `nextUpdate`, as written (an ISO 8601 date).
    public let nextUpdate: String
    /// The entries that name an AAGUID, by AAGUID.
    public let entries: [AAGUID: MetadataEntry]

    /// Verifies and parses a BLOB.
    /// - Parameters:
    ///   - jws: the BLOB file's bytes (JWS compact serialization).
    ///   - roots: the configured MDS root certificate(s).
    ///   - now: the time at which the signing chain must be valid.
    /// - Throws: ``WebAuthnError`` `metadata_invalid`.
    public init(jws: [UInt8], roots: [X509CertificateBox], at now: Date) async throws {
        var text = jws[...]
        while let last = text.last, last == 0x0A || last == 0x0D || last == 0x20 { text = text.dropLast() }
        let token: CompactJWS
        let chain: [X509CertificateBox]
        do {
            token = try CompactJWS(bytes: Array(text), format: "MDS BLOB")
            chain = try token.certificateChain()
        } catch let error as WebAuthnError {
            throw WebAuthnError(.metadataInvalid, error.detail)
        }
        guard await AttestationTrust.validate(leaf: chain[0], intermediates: Array(chain.dropFirst()), anchors: roots, at: now) else {
            throw WebAuthnError(.metadataInvalid, "the MDS BLOB signing chain does not validate to the configured MDS root")
        }
        do { try token.verifySignature(with: chain[0].certificate) } catch {
            throw WebAuthnError(.metadataInvalid, "the MDS BLOB signature does not verify")
        }
        guard let payload = try? StrictJSON.parse(token.payload).object else {
            throw WebAuthnError(.metadataInvalid, "the MDS BLOB payload is not a JSON object")
        }
        guard let number = payload["no"]?.int64, let nextUpdate = payload["nextUpdate"]?.string, let items = payload["entries"]?.array else {
            throw WebAuthnError(.metadataInvalid, "the MDS BLOB payload lacks no, nextUpdate or entries")
        }
        var entries: [AAGUID: MetadataEntry] = [:]
        for item in items {
            guard let object = item.object else { throw WebAuthnError(.metadataInvalid, "an MDS entry is not an object") }
            guard let aaguidText = object["aaguid"]?.string else { continue }  // U2F and UAF entries
            guard let aaguid = AAGUID(string: aaguidText) else { throw WebAuthnError(.metadataInvalid, "an MDS entry has a malformed aaguid") }
            entries[aaguid] = try MetadataEntry(aaguid: aaguid, object: object)
        }
        self.number = number
        self.nextUpdate = nextUpdate
        self.entries = entries
    }
}

/// One authenticator model in the metadata.
public struct MetadataEntry: Sendable {
    /// The model's AAGUID.
    public let aaguid: AAGUID
    /// `metadataStatement.description`.
    public let description: String?
    /// `metadataStatement.attestationRootCertificates`: anchors for this AAGUID.
    public let attestationRoots: [X509CertificateBox]
    /// The `status` of every status report, in order.
    public let statuses: [String]

    /// The statuses that make an authenticator unacceptable.
    public static let compromisingStatuses: Set<String> = [
        "REVOKED", "ATTESTATION_KEY_COMPROMISE", "USER_VERIFICATION_BYPASS",
        "USER_KEY_REMOTE_COMPROMISE", "USER_KEY_PHYSICAL_COMPROMISE",
    ]

    /// The first status report that makes the model unacceptable, if any.
    public var compromisingStatus: String? { statuses.first(where: { Self.compromisingStatuses.contains($0) }) }

    init(aaguid: AAGUID, object: JSONObject) throws {
        self.aaguid = aaguid
        let statement = object["metadataStatement"]?.object
        description = statement?["description"]?.string
        var roots: [X509CertificateBox] = []
        for value in statement?["attestationRootCertificates"]?.array ?? [] {
            guard let text = value.string, let der = Data(base64Encoded: text) else {
                throw WebAuthnError(.metadataInvalid, "an MDS attestation root is not base64")
            }
            guard let root = try? X509CertificateBox(der: Array(der)) else {
                throw WebAuthnError(.metadataInvalid, "an MDS attestation root is not a certificate")
            }
            roots.append(root)
        }
        attestationRoots = roots
        statuses = (object["statusReports"]?.array ?? []).compactMap { $0.object?["status"]?.string }
    }
}
