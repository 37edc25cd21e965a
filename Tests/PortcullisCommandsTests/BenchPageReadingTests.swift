import Foundation
import JWTKit
import OIDC
@testable import PortcullisBench
import Testing
import WebAuthn

/// The OpenID Connect generator reads the sign-in page as the page's script does: the interaction
/// it names and the options it carries (HTML-escaped JSON), by byte scans.
@Suite struct BenchPageReadingTests {
    static let page = Array("""
        <main data-interaction="abc_-123" data-options="{&quot;publicKey&quot;:{&quot;challenge&quot;:&quot;AAEC&quot;,\
        &quot;hint&quot;:&quot;&lt;a&gt; &amp; &#39;b&#39;&quot;}}"></main>
        """.utf8)

    @Test func readsTheInteractionAndTheCarriedOptions() throws {
        #expect(BenchOIDCCommand.interaction(Self.page) == "abc_-123")
        let options = try #require(BenchOIDCCommand.carriedOptions(Self.page))
        #expect(options.object?["publicKey"]?.object?["challenge"]?.string == "AAEC")
        #expect(options.object?["publicKey"]?.object?["hint"]?.string == "<a> & 'b'")
    }

    @Test(arguments: [
        "<main data-interaction=\"x\"></main>",  // no options carried
        "<main data-interaction=\"x\" data-options=\"\"></main>",  // empty: the limit was spent
        "<main data-options=\"{&quot;a&quot;:1\"></main>",  // not JSON once unescaped
        "<main data-options=\"{}",  // no closing quote
    ])
    func carriesNothingReadable(_ page: String) {
        #expect(BenchOIDCCommand.carriedOptions(Array(page.utf8)) == nil)
        #expect(BenchOIDCCommand.attribute("data-missing", in: Array(page.utf8)) == nil)
    }

    @Test(arguments: [
        ("http://127.0.0.1:9/callback?code=abc-_1&state=s&iss=http%3A%2F%2Fx", "abc-_1"),
        ("http://127.0.0.1:9/callback?state=s&code=a%2Bb", "a+b"),
        ("http://127.0.0.1:9/callback?error=access_denied&state=s", nil),
        ("http://127.0.0.1:9/callback", nil),
        ("http://127.0.0.1:9/callback?code=a%zz", nil),  // a bad escape
    ] as [(String, String?)])
    func readsTheCodeOfARedirect(_ location: String, _ code: String?) {
        #expect(BenchOIDCCommand.code(location) == code)
    }

    /// The generator verifies ID tokens with JWTKit, whose JSON it reads with the project's strict
    /// decoder: a token signed by the key verifies to the same claims, a changed payload does not.
    @Test func verifiesIDTokensWithTheStrictDecoder() async throws {
        let keys = JWTKeyCollection(defaultJWTParser: DefaultJWTParser(jsonDecoder: StrictJWTDecoder()))
        await keys.add(ecdsa: ES256PrivateKey(), kid: "k1")
        let claims = try JSONValueDecoder().decode(IDTokenClaims.self, from: StrictJSON.parse(Array("""
            {"iss": "http://localhost:8080", "sub": "u", "aud": "c", "exp": 2000000000, "iat": 1700000000, "auth_time": 1700000000,
             "nonce": "n1", "sid": "s", "at_hash": "h", "acr": "phr", "amr": ["swk", "user"], "azp": "c"}
            """.utf8)))
        let token = try await keys.sign(claims, kid: "k1")
        #expect(try await keys.verify(token, as: IDTokenClaims.self) == claims)
        var parts = token.split(separator: ".").map(String.init)
        let payload = try #require(Base64URL.decode(parts[1]))
        parts[1] = Base64URL.encode(Array(String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "\"n1\"", with: "\"n2\"").utf8))
        await #expect(throws: (any Error).self) { try await keys.verify(parts.joined(separator: "."), as: IDTokenClaims.self) }
    }
}
