import CBOR
import SwiftASN1
import X509

/// A parsed X.509 certificate together with its DER bytes.
public struct X509CertificateBox: Sendable, Hashable {
    /// The parsed certificate.
    public let certificate: Certificate
    /// The DER bytes as received.
    public let der: [UInt8]

    /// Parses DER bytes.
    /// - Throws: ``WebAuthnError`` `attestation_invalid`.
    public init(der: [UInt8]) throws {
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            throw WebAuthnError(.attestationInvalid, "a certificate is not valid DER X.509")
        }
        self.der = der
    }

    /// Wraps an already parsed certificate.
    public init(_ certificate: Certificate) throws {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        self.certificate = certificate
        self.der = serializer.serializedBytes
    }

    /// Parses every PEM certificate block in `pem`.
    /// - Throws: ``WebAuthnError`` `invalid_configuration` when there is none or one does not parse.
    public static func certificates(pem: String) throws -> [X509CertificateBox] {
        let documents: [PEMDocument]
        do { documents = try PEMDocument.parseMultiple(pemString: pem) } catch {
            throw WebAuthnError(.invalidConfiguration, "the PEM text does not parse")
        }
        let certificates = try documents.filter { $0.discriminator == "CERTIFICATE" }.map { try X509CertificateBox(der: $0.derBytes) }
        guard !certificates.isEmpty else { throw WebAuthnError(.invalidConfiguration, "the PEM text holds no certificate") }
        return certificates
    }
}
