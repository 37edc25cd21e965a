import Crypto
import Foundation
import SwiftASN1
import WebAuthn
import X509

/// A small certificate authority for attestation fixtures: a root, an intermediate, and leaves on demand.
public struct TestPKI: Sendable {
    /// The root CA certificate (self-signed).
    public let root: X509CertificateBox
    /// The root's key.
    public let rootKey: TestKey
    /// The intermediate CA certificate, issued by the root.
    public let intermediate: X509CertificateBox
    /// The intermediate's key.
    public let intermediateKey: TestKey

    /// A fresh root and intermediate, valid from 2024 to 2036.
    public init(name: String = "Portcullis Test") {
        do {
            rootKey = TestKey(.es256)
            intermediateKey = TestKey(.es256)
            let rootName = try DistinguishedName {
                CountryName("AA")
                OrganizationName(name)
                CommonName("\(name) Root CA")
            }
            let intermediateName = try DistinguishedName {
                CountryName("AA")
                OrganizationName(name)
                CommonName("\(name) Intermediate CA")
            }
            root = try X509CertificateBox(
                try Certificate(
                    version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: rootKey.certificatePublicKey,
                    notValidBefore: FixedClock.certificatesValidFrom, notValidAfter: FixedClock.certificatesValidUntil,
                    issuer: rootName, subject: rootName, signatureAlgorithm: .ecdsaWithSHA256,
                    extensions: try Certificate.Extensions {
                        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    },
                    issuerPrivateKey: rootKey.certificatePrivateKey))
            intermediate = try X509CertificateBox(
                try Certificate(
                    version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: intermediateKey.certificatePublicKey,
                    notValidBefore: FixedClock.certificatesValidFrom, notValidAfter: FixedClock.certificatesValidUntil,
                    issuer: rootName, subject: intermediateName, signatureAlgorithm: .ecdsaWithSHA256,
                    extensions: try Certificate.Extensions {
                        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    },
                    issuerPrivateKey: rootKey.certificatePrivateKey))
        } catch {
            fatalError("test PKI construction failed: \(error)")
        }
    }

    /// The subject §8.2.1 asks of a packed attestation certificate.
    public static func attestationSubject(commonName: String = "Portcullis Virtual Authenticator") -> DistinguishedName {
        (try? DistinguishedName {
            CountryName("AA")
            OrganizationName("Portcullis Test")
            OrganizationalUnitName("Authenticator Attestation")
            CommonName(commonName)
        }) ?? DistinguishedName()
    }

    /// Issues a leaf certificate from the intermediate (or, with `byRoot`, from the root). Unless
    /// `extensions` has one, or `basicConstraints` is false, it gets a critical Basic Constraints.
    public func issue(
        subject: DistinguishedName,
        publicKey: Certificate.PublicKey,
        extensions: [Certificate.Extension] = [],
        isCA: Bool = false,
        version: Certificate.Version = .v3,
        notValidBefore: Date = FixedClock.certificatesValidFrom,
        notValidAfter: Date = FixedClock.certificatesValidUntil,
        byRoot: Bool = false,
        basicConstraints: Bool = true
    ) -> X509CertificateBox {
        do {
            var all = try Certificate.Extensions(extensions)
            if basicConstraints, all[oid: .X509ExtensionID.basicConstraints] == nil {
                try all.append(try Certificate.Extension(isCA ? .isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority, critical: true))
            }
            let issuer = byRoot ? root : intermediate
            let issuerKey = byRoot ? rootKey : intermediateKey
            return try X509CertificateBox(
                try Certificate(
                    version: version, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                    notValidBefore: notValidBefore, notValidAfter: notValidAfter,
                    issuer: issuer.certificate.subject, subject: subject, signatureAlgorithm: issuerKey.certificateSignatureAlgorithm,
                    extensions: all, issuerPrivateKey: issuerKey.certificatePrivateKey))
        } catch {
            fatalError("issuing a test certificate failed: \(error)")
        }
    }

    /// A self-signed certificate, for the "self-signed root inside x5c" attacks.
    public static func selfSigned(key: TestKey, subject: DistinguishedName, isCA: Bool = true) -> X509CertificateBox {
        do {
            return try X509CertificateBox(
                try Certificate(
                    version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.certificatePublicKey,
                    notValidBefore: FixedClock.certificatesValidFrom, notValidAfter: FixedClock.certificatesValidUntil,
                    issuer: subject, subject: subject, signatureAlgorithm: key.certificateSignatureAlgorithm,
                    extensions: try Certificate.Extensions([
                        try Certificate.Extension(isCA ? .isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority, critical: true)
                    ]),
                    issuerPrivateKey: key.certificatePrivateKey))
        } catch {
            fatalError("self-signing failed: \(error)")
        }
    }

    /// PEM text for a certificate.
    public static func pem(_ certificate: X509CertificateBox) -> String {
        let b64 = Data(certificate.der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(b64)\n-----END CERTIFICATE-----\n"
    }

    /// A TLS server certificate for `hostname` (a DNS name in the subject alternative name, server
    /// authentication usage), issued by the intermediate: the chain (leaf first) as PEM, and the key as PEM.
    public func tlsServer(hostname: String) -> (chainPEM: String, keyPEM: String) {
        let key = TestKey(.es256)
        let subject = (try? DistinguishedName { CommonName(hostname) }) ?? DistinguishedName()
        let extensions: [Certificate.Extension] = [
            (try? Certificate.Extension(SubjectAlternativeNames([.dnsName(hostname)]), critical: false)),
            (try? Certificate.Extension(ExtendedKeyUsage([.serverAuth]), critical: false)),
        ].compactMap { $0 }
        let leaf = issue(subject: subject, publicKey: key.certificatePublicKey, extensions: extensions)
        return (Self.pem(leaf) + Self.pem(intermediate), key.pemPrivateKey ?? "")
    }
}
