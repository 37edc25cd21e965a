import Foundation
import NIOSSL
import PostgresNIO

/// Where and how to reach PostgreSQL, read from a `postgres://user:password@host:port/database` URL
/// whose query may set `sslmode` and `sslrootcert` (libpq's names; no other member is accepted).
///
/// - `sslmode=disable`: no TLS.
/// - `sslmode=require`: TLS, without checking the server's certificate (it only stops eavesdroppers).
/// - `sslmode=verify-full`: TLS, the certificate must chain to the system's roots, or to the PEM
///   certificates in `sslrootcert`, and name the host. The host must then be a name, not an address.
///
/// Without `sslmode`, a host on this machine (`localhost`, `127.0.0.0/8`, `::1`) gets `disable` and
/// any other host `verify-full`: a database across a network is never reached in the clear unless the
/// URL says so.
public struct PostgresConnectionSettings: Sendable, Equatable {
    /// How the connection is protected.
    public enum TLSMode: Sendable, Equatable {
        case disable
        case require
        /// With the PEM file of trusted roots, or the system's roots when nil.
        case verifyFull(rootCertificateFile: String?)
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public var tls: TLSMode

    /// Parses `url`.
    /// - Throws: ``SQLStoreError`` naming what is wrong (nothing is connected).
    public init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let user = components.user
        else { throw SQLStoreError.invalidURL }
        self.host = host
        port = components.port ?? 5432
        username = user.removingPercentEncoding ?? user
        password = components.password?.removingPercentEncoding
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? nil : path
        var mode: String?
        var rootFile: String?
        for item in components.queryItems ?? [] {
            guard let value = item.value, !value.isEmpty else { throw SQLStoreError.invalidTLS("\(item.name) needs a value") }
            switch item.name {
            case "sslmode" where mode == nil: mode = value
            case "sslrootcert" where rootFile == nil: rootFile = value
            default: throw SQLStoreError.invalidTLS("\(item.name) is not understood here (only sslmode and sslrootcert, once each)")
            }
        }
        switch mode ?? (Self.isLocal(host) ? "disable" : "verify-full") {
        case "disable": tls = .disable
        case "require": tls = .require
        case "verify-full":
            guard !Self.isAddress(host) else {
                throw SQLStoreError.invalidTLS("sslmode=verify-full (the default for a remote host) checks the host's name, so the URL must name the host, not give its address; or choose sslmode=require or sslmode=disable")
            }
            tls = .verifyFull(rootCertificateFile: rootFile)
        case let other: throw SQLStoreError.invalidTLS("sslmode=\(other) is not one of disable, require, verify-full")
        }
        if rootFile != nil, tls == .disable || tls == .require {
            throw SQLStoreError.invalidTLS("sslrootcert goes with sslmode=verify-full")
        }
    }

    /// Whether `host` is this machine.
    static func isLocal(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// Whether `host` is an IP address rather than a name.
    static func isAddress(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    /// postgres-nio's TLS setting for this mode.
    /// - Throws: ``SQLStoreError/invalidTLS(_:)`` when the root certificate file cannot be read.
    func clientTLS() throws -> PostgresClient.Configuration.TLS {
        switch tls {
        case .disable:
            return .disable
        case .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            return .require(configuration)
        case .verifyFull(let file):
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            if let file {
                do { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file)) } catch {
                    throw SQLStoreError.invalidTLS("cannot read PEM certificates from sslrootcert \(file)")
                }
            }
            return .require(configuration)
        }
    }
}
