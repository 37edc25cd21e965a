import CBOR
import Foundation
import Crypto

/// A relying party's identity: its RP ID and the origins allowed to use it.
///
/// An allowed origin need not be within the RP ID: Related Origin Requests (§5.11) let a client use
/// the RP ID from any origin the RP lists at `https://RP-ID/.well-known/webauthn`, and the client has
/// already applied that list by the time a response arrives. The relying party checks what only it
/// can check: that the client data's origin is exactly one it allows (§7.1 step 9, §7.2 step 12).
///
/// Configured origins are normalized once, here: web origins become their serialized form
/// (lower-case scheme and host, default port dropped, no path, query, fragment or user info), and
/// `android:apk-key-hash:` origins are kept as opaque, case-sensitive strings. Client data origins are
/// then compared as exact strings (§7.1 step 9, §7.2 step 12, §13.5.9): no substring, suffix or
/// case-folding match ever happens at verification time.
public struct RelyingParty: Sendable {
    /// The RP ID: `localhost` or a domain name. Origins outside it are related origins (§5.11).
    public let id: String
    /// SHA-256 of the RP ID, compared with authenticator data's rpIdHash.
    public let idHash: [UInt8]
    /// The allowed origins, each in its serialized form.
    public let origins: Set<String>
    /// Origins allowed as `topOrigin` when the RP is embedded in a cross-origin iframe. Empty means
    /// embedding is not allowed: `crossOrigin: true` or any `topOrigin` is refused.
    public let allowedTopOrigins: Set<String>

    /// Creates a relying party.
    /// - Parameters:
    ///   - id: the RP ID.
    ///   - origins: allowed origins as configured; each is normalized. Web origins outside the RP ID
    ///     are allowed (related origins); ``relatedOrigins`` lists them.
    ///   - allowedTopOrigins: top-level origins that may embed this RP; empty to refuse embedding.
    /// - Throws: ``WebAuthnError`` `invalid_configuration`, naming the bad value.
    public init(id: String, origins: [String], allowedTopOrigins: [String] = []) throws {
        let rpID = id.lowercased()
        guard Self.isValidRPID(rpID) else {
            throw WebAuthnError(.invalidConfiguration, "RP ID \"\(id)\" is not a domain name (IP addresses and public suffixes are refused)")
        }
        guard !origins.isEmpty else { throw WebAuthnError(.invalidConfiguration, "at least one origin is required") }
        var normalized = Set<String>()
        for origin in origins { normalized.insert(try Self.normalize(origin: origin)) }
        var tops = Set<String>()
        for origin in allowedTopOrigins { tops.insert(try Self.normalize(origin: origin)) }
        self.id = rpID
        self.idHash = Array(SHA256.hash(data: Array(rpID.utf8)))
        self.origins = normalized
        self.allowedTopOrigins = tops
    }

    /// Normalizes a configured origin to its serialized form.
    /// - Throws: ``WebAuthnError`` `invalid_configuration`.
    public static func normalize(origin: String) throws -> String {
        let apkPrefix = "android:apk-key-hash:"
        if origin.hasPrefix(apkPrefix) {
            let hash = origin.dropFirst(apkPrefix.count)
            guard !hash.isEmpty, hash.allSatisfy({ $0.isLetter || $0.isNumber || "-_+/=".contains($0) }), hash.allSatisfy(\.isASCII) else {
                throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\" has an invalid APK key hash")
            }
            return origin  // opaque: never case-folded or URL-parsed
        }
        guard let schemeEnd = origin.range(of: "://") else {
            throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\" is not scheme://host[:port]")
        }
        let scheme = origin[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else {
            throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\" must use https (or http for localhost)")
        }
        var authority = origin[schemeEnd.upperBound...]
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        guard !authority.isEmpty, !authority.contains(where: { "/?#@\\ ".contains($0) }) else {
            throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\" must have no path, query, fragment or user info")
        }
        var host = Substring(authority)
        var port: Int?
        if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\" has an invalid port")
            }
            port = p
        }
        let lowerHost = host.lowercased()
        guard !lowerHost.isEmpty, lowerHost.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) else {
            throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\" has an invalid host (use the punycode form)")
        }
        if scheme == "http", lowerHost != "localhost", !lowerHost.hasSuffix(".localhost") {
            throw WebAuthnError(.invalidConfiguration, "origin \"\(origin)\": plain http is allowed only for localhost")
        }
        let defaultPort = scheme == "https" ? 443 : 80
        if let port, port != defaultPort { return "\(scheme)://\(lowerHost):\(port)" }
        return "\(scheme)://\(lowerHost)"
    }

    /// The allowed web origins whose host is neither the RP ID nor below it: the ones a client accepts
    /// only when `https://RP-ID/.well-known/webauthn` lists them (§5.11.1).
    public var relatedOrigins: Set<String> {
        origins.filter { origin in
            guard let host = Self.host(ofSerialized: origin) else { return false }
            return !(host == id || host.hasSuffix("." + id))
        }
    }

    /// Whether `origin` (a client data `origin`) is, byte for byte, one of the allowed origins
    /// (§7.1 step 9, §7.2 step 12). Swift's `String ==`, which `Set.contains` uses, treats canonically
    /// equivalent text as equal: U+212A KELVIN SIGN would match the `K` of an APK key hash origin.
    public func allows(origin: String) -> Bool { Self.exactMember(origin, of: origins) }

    /// Whether `origin` (a client data `topOrigin`) is, byte for byte, one the relying party may be
    /// embedded in (§7.1 step 11, §7.2 step 14).
    public func allows(topOrigin origin: String) -> Bool { Self.exactMember(origin, of: allowedTopOrigins) }

    static func exactMember(_ value: String, of set: Set<String>) -> Bool {
        set.contains { $0.utf8.elementsEqual(value.utf8) }
    }

    static func host(ofSerialized origin: String) -> String? {
        guard !origin.hasPrefix("android:") else { return nil }
        guard let range = origin.range(of: "://") else { return nil }
        let authority = origin[range.upperBound...]
        if let colon = authority.lastIndex(of: ":") { return String(authority[..<colon]) }
        return String(authority)
    }

    /// Whether `id` can be an RP ID: `localhost`, or a dotted domain name that is not an IP address.
    ///
    /// Without a public-suffix list this refuses single-label names other than `localhost`; a public
    /// suffix with a dot (such as `co.uk`) is not detected here.
    static func isValidRPID(_ id: String) -> Bool {
        if id == "localhost" { return true }
        let labels = id.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, id.count <= 253 else { return false }
        for label in labels {
            guard (1...63).contains(label.count),
                  label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
                  label.first != "-", label.last != "-"
            else { return false }
        }
        // An IPv4 address is all digits.
        if labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return false }
        if let last = labels.last, last.allSatisfy(\.isNumber) { return false }
        return true
    }
}
