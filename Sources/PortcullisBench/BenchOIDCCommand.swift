import ArgumentParser
import Crypto
import Foundation
import JWTKit
import OIDC
import PortcullisCommands
import PortcullisTesting
import Synchronization
import WebAuthn

/// `portcullis-bench oidc`: complete authorization-code sign-ins (authorize, the sign-in page's passkey
/// assertion, resume, code exchange, the ID token verified here against the published keys), then
/// code exchanges alone at the token endpoint.
struct BenchOIDCCommand: AsyncParsableCommand, IOCommand {
    static let configuration = CommandConfiguration(
        commandName: "oidc",
        abstract: "Measure complete OpenID Connect sign-ins and code exchanges against a running server, for a registered client."
    )

    @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "The origin the server allows (what a browser would send).") var origin = "http://localhost:8080"
    @Option(name: .customLong("rp-id"), help: "The server's RP ID.") var rpID = "localhost"
    @Option(name: .customLong("client-id"), help: "A confidential client's ID (`portcullis client create`).") var clientID: String
    @Option(name: .customLong("client-secret"), help: "Its secret.") var clientSecret: String
    @Option(name: .customLong("redirect-uri"), help: "Its registered redirect URI.") var redirectURI: String
    @Option(help: "Users to sign up first.") var users = 100
    @Option(help: "Requests in flight at once.") var concurrency = 16
    @Option(help: "Seconds of complete sign-ins to measure.") var duration = 10.0
    @Option(name: .customLong("exchange-duration"), help: "Seconds of authorizations that collect codes for the exchange phase (each code lives at most 60 s).")
    var exchangeDuration = 5.0
    @Option(name: .customLong("exchange-codes"), help: "At most this many codes for the exchange phase, so that all are exchanged before they expire.")
    var exchangeCodes = 10_000


    func run(io: CommandIO) async throws -> Int32 {
        guard users > 0, concurrency > 0, duration > 0 else { throw UsageError("--users, --concurrency and --duration must be positive") }
        let authenticator = VirtualAuthenticator(rpID: rpID, origin: origin)
        let runID = UUID().uuidString.prefix(8).lowercased()
        let basic = "Basic " + Data("\(formEncode(clientID)):\(formEncode(clientSecret))".utf8).base64EncodedString()

        // The published keys, once: the generator verifies every ID token it gets.
        let keys = JWTKeyCollection(defaultJWTParser: DefaultJWTParser(jsonDecoder: StrictJWTDecoder()))
        let setup = try await BenchConnection.connect(url: url)
        let jwks = try await setup.send("GET", "/oauth2/jwks")
        try await keys.add(jwksJSON: String(decoding: jwks.body, as: UTF8.self))
        await setup.close()

        let accounts = try await benchSignUps(url: url, origin: origin, authenticator: authenticator, prefix: "oidc-\(runID)", users: users,
                                              concurrency: concurrency)

        // Complete sign-ins: no session in the "browser" at the start of each.
        let signIns = BenchResults()
        let deadline = Date().addingTimeInterval(duration)
        let start = Date()
        let cookies = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<min(concurrency, accounts.count) {
                let mine = stride(from: worker, to: accounts.count, by: concurrency).map { accounts[$0] }
                group.addTask {
                    let client = try await BenchConnection.connect(url: url)
                    defer { Task { await client.close() } }
                    var counters = [UInt32](repeating: 0, count: mine.count)
                    var lastCookies = [String?](repeating: nil, count: mine.count)
                    var turn = 0
                    while Date() < deadline {
                        let slot = turn % mine.count
                        turn += 1
                        let began = ContinuousClock.now
                        let verifier = Base64URL.encode(Array(UUID().uuidString.utf8) + Array(UUID().uuidString.utf8))
                        let page = try await client.send("GET", authorizePath(verifier: verifier, nonce: "n\(turn)"))
                        guard page.status == 200, let interaction = Self.interaction(page.body) else { signIns.fail("authorize \(page.status)"); continue }
                        // As the sign-in page does: the options it carries, or (a server whose page carries none) the API's.
                        var options = Self.carriedOptions(page.body).map { (200, Optional($0)) }
                        if options == nil { options = try await json(client, "/api/v1/login/options", .object([:])) }
                        guard let options, let challenge = options.1?.object?["publicKey"]?.object?["challenge"]?.string.flatMap(Base64URL.decode) else {
                            signIns.fail("options \(options?.0 ?? 0)"); continue
                        }
                        counters[slot] += 1
                        let assertion = authenticator.assertion(challenge: challenge, credential: mine[slot].credential, signCount: counters[slot],
                                                                userHandle: mine[slot].handle)
                        // As the sign-in page does: the verify request names the waiting request, and its answer
                        // carries the redirect back to the app (a server without that answer is resumed instead).
                        let verify = try await client.send("POST", "/api/v1/login/verify", headers: [("Origin", origin), ("Content-Type", "application/json")],
                                                           body: StrictJSON.serializedBytes(.object(["credential": assertion.jsonValue,
                                                                                                     "interaction": .string(interaction)])))
                        guard verify.status == 200, let cookie = verify.cookie else { signIns.fail("verify \(verify.status)"); continue }
                        lastCookies[slot] = cookie
                        var location = (try? StrictJSON.parse(verify.body))?.object?["returnTo"]?.string
                        if location == nil {
                            let resumed = try await client.send("GET", "/oauth2/resume?interaction=\(interaction)", headers: [("Cookie", cookie)])
                            location = resumed.status == 303 ? resumed.location : nil
                        }
                        guard let code = location.flatMap(Self.code) else { signIns.fail("no code after sign-in"); continue }
                        guard try await exchange(client, code: code, verifier: verifier, basic: basic, keys: keys, nonce: "n\(turn)") else {
                            signIns.fail("token"); continue
                        }
                        signIns.add((ContinuousClock.now - began).inSeconds)
                    }
                    return lastCookies.compactMap { $0 }
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        let elapsed = Date().timeIntervalSince(start)

        // Codes for the exchange phase: authorizations with a live session (one GET each).
        let exchanges = BenchResults()
        let codes = Codes()
        let collectUntil = Date().addingTimeInterval(exchangeDuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<min(concurrency, cookies.count) {
                let mine = stride(from: worker, to: cookies.count, by: concurrency).map { cookies[$0] }
                group.addTask {
                    let client = try await BenchConnection.connect(url: url)
                    defer { Task { await client.close() } }
                    var turn = 0
                    while Date() < collectUntil, codes.list.withLock({ $0.count }) < exchangeCodes {
                        let verifier = Base64URL.encode(Array(UUID().uuidString.utf8) + Array(UUID().uuidString.utf8))
                        let response = try await client.send("GET", authorizePath(verifier: verifier, nonce: "x"), headers: [("Cookie", mine[turn % mine.count])])
                        turn += 1
                        guard response.status == 303, let code = response.location.flatMap(Self.code) else { exchanges.fail("authorize \(response.status)"); continue }
                        codes.list.withLock { $0.append((code, verifier)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let collected = codes.list.withLock { $0 }
        let exchangeStart = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                let mine = stride(from: worker, to: collected.count, by: concurrency).map { collected[$0] }
                group.addTask {
                    let client = try await BenchConnection.connect(url: url)
                    defer { Task { await client.close() } }
                    for (code, verifier) in mine {
                        let began = ContinuousClock.now
                        if try await exchange(client, code: code, verifier: verifier, basic: basic, keys: nil, nonce: nil) {
                            exchanges.add((ContinuousClock.now - began).inSeconds)
                        } else {
                            exchanges.fail("token")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let exchangeElapsed = Date().timeIntervalSince(exchangeStart)

        var out = "portcullis-bench oidc: \(url), client \(clientID), \(accounts.count) users, concurrency \(concurrency)\n"
        let latencies = signIns.latencies.withLock { $0 }
        out += String(format: "complete OIDC sign-ins (authorize, passkey, token, ID token verified): %d in %.1f s = %.0f /s\n",
                      latencies.count, elapsed, Double(latencies.count) / elapsed)
        out += String(format: "  latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", signIns.percentile(0.5), signIns.percentile(0.95),
                      signIns.percentile(0.99))
        let exchanged = exchanges.latencies.withLock { $0 }
        out += String(format: "code exchanges at the token endpoint: %d in %.1f s = %.0f /s (p50 %.1f ms, p99 %.1f ms)\n", exchanged.count, exchangeElapsed,
                      Double(exchanged.count) / exchangeElapsed, exchanges.percentile(0.5), exchanges.percentile(0.99))
        let errors = signIns.errors.withLock { $0 }.merging(exchanges.errors.withLock { $0 }, uniquingKeysWith: +)
        out += "errors: " + (errors.isEmpty ? "none" : errors.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")) + "\n"
        io.out(out)
        return errors.isEmpty ? 0 : 1
    }

    /// The codes (with their verifiers) collected for the exchange phase.
    final class Codes: Sendable { let list = Mutex<[(String, String)]>([]) }

    func authorizePath(verifier: String, nonce: String) -> String {
        let challenge = Base64URL.encode(Array(SHA256.hash(data: Array(verifier.utf8))))
        return "/oauth2/authorize?response_type=code&client_id=\(formEncode(clientID))&redirect_uri=\(formEncode(redirectURI))&scope=openid"
            + "&state=s&nonce=\(nonce)&code_challenge=\(challenge)&code_challenge_method=S256"
    }

    /// Exchanges a code; with `keys`, verifies the ID token's signature and its iss-independent claims.
    func exchange(_ client: BenchConnection, code: String, verifier: String, basic: String, keys: JWTKeyCollection?, nonce: String?) async throws -> Bool {
        let form = "grant_type=authorization_code&code=\(formEncode(code))&redirect_uri=\(formEncode(redirectURI))&code_verifier=\(verifier)"
        let response = try await client.send("POST", "/oauth2/token", headers: [("Authorization", basic), ("Content-Type", "application/x-www-form-urlencoded")],
                                             body: Array(form.utf8))
        guard response.status == 200 else { return false }
        guard let keys else { return true }
        guard let token = (try? StrictJSON.parse(response.body))?.object?["id_token"]?.string,
              let claims = try? await keys.verify(token, as: IDTokenClaims.self)
        else { return false }
        return claims.aud == clientID && claims.nonce == nonce && TimeInterval(claims.exp) > Date().timeIntervalSince1970
    }

    func json(_ client: BenchConnection, _ path: String, _ body: JSONValue) async throws -> (Int, JSONValue?) {
        let response = try await client.post(path, origin: origin, body: StrictJSON.serializedBytes(body))
        return (response.status, try? StrictJSON.parse(response.body))
    }

    static func interaction(_ page: [UInt8]) -> String? {
        attribute("data-interaction", in: page).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The sign-in options the page carries in `data-options` (HTML-escaped JSON), when it carries any.
    static func carriedOptions(_ page: [UInt8]) -> JSONValue? {
        guard let escaped = attribute("data-options", in: page), !escaped.isEmpty else { return nil }
        return try? StrictJSON.parse(unescapeHTML(escaped))
    }

    /// The raw value of the first double-quoted attribute `name` in `page`. Byte scans: the
    /// generator shares the server's cores, and String searches and replacements over the whole
    /// page were an eighth of its time.
    static func attribute(_ name: StaticString, in page: [UInt8]) -> ArraySlice<UInt8>? {
        name.withUTF8Buffer { name -> ArraySlice<UInt8>? in
            let needle = Array(name) + [UInt8(ascii: "="), UInt8(ascii: "\"")]
            guard page.count >= needle.count else { return nil }
            var index = 0
            while index <= page.count - needle.count {
                if page[index] == needle[0], page[index..<(index + needle.count)].elementsEqual(needle) {
                    let start = index + needle.count
                    guard let end = page[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
                    return page[start..<end]
                }
                index += 1
            }
            return nil
        }
    }

    /// `bytes` with the five entities an HTML attribute escape writes replaced by their characters.
    static func unescapeHTML(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        let entities: [(entity: [UInt8], character: UInt8)] = [
            (Array("&quot;".utf8), UInt8(ascii: "\"")), (Array("&#39;".utf8), UInt8(ascii: "'")), (Array("&lt;".utf8), UInt8(ascii: "<")),
            (Array("&gt;".utf8), UInt8(ascii: ">")), (Array("&amp;".utf8), UInt8(ascii: "&")),
        ]
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        outer: while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "&") {
                for (entity, character) in entities where bytes[index...].starts(with: entity) {
                    out.append(character)
                    index += entity.count
                    continue outer
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return out
    }

    /// The `code` query parameter of a redirect, percent-decoded. Over the UTF-8 bytes: Foundation's
    /// `removingPercentEncoding` was a twentieth of the generator's time.
    static func code(_ location: String) -> String? {
        let bytes = Array(location.utf8)
        guard let question = bytes.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        for pair in bytes[(question + 1)...].split(separator: UInt8(ascii: "&")) where pair.starts(with: "code=".utf8) {
            var decoded: [UInt8] = []
            var iterator = pair.dropFirst(5).makeIterator()
            while let byte = iterator.next() {
                guard byte == UInt8(ascii: "%") else { decoded.append(byte); continue }
                guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue) else { return nil }
                decoded.append(high << 4 | low)
            }
            return String(validating: decoded, as: UTF8.self)
        }
        return nil
    }
}

/// JWTKit's JSON decoding done by the project's strict parser and decoder instead of Foundation's
/// `JSONDecoder`, which was a sixth of the generator's time. JWTKit still checks the header, the key
/// and the signature.
struct StrictJWTDecoder: JWTJSONDecoder {
    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONValueDecoder().decode(type, from: StrictJSON.parse(Array(data)))
    }
}
