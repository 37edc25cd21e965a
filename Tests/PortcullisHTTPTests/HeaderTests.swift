import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortcullisApp
import Testing
import WebAuthn

/// Headers on every response: HSTS only for an https origin, and the request ID.
@Suite struct HeaderTests {
    typealias H = ServerHarness
    static let requestID = HTTPField.Name("X-Request-ID")!
    static let sts = HTTPField.Name("Strict-Transport-Security")!

    @Test(arguments: [("https://id.example.org", "max-age=31536000"), ("http://localhost:8080", nil)] as [(String, String?)])
    func strictTransportSecurityOnlyForHTTPS(origin: String, expected: String?) async throws {
        let harness = try await H {
            $0.rp.id = URL(string: origin)?.host ?? "localhost"
            $0.rp.origins = [origin]
        }
        try await harness.run { client in
            for path in ["/healthz", "/", "/no-such-page"] {
                let headers = try await client.execute(uri: path, method: .get) { $0.headers }
                #expect(headers[Self.sts] == expected, "\(path)")
            }
        }
    }

    @Test(arguments: [
        ("edge-7f3a.b_c:1", true), (String(repeating: "a", count: 128), true), (String(repeating: "a", count: 129), false),
        ("two words", false), ("<script>", false), ("", false),
    ])
    func aPlainRequestIDIsEchoedAndAnyOtherReplaced(sent: String, echoed: Bool) async throws {
        let harness = try await H()
        try await harness.run { client in
            let headers = try await client.execute(uri: "/healthz", method: .get, headers: [Self.requestID: sent]) { $0.headers }
            let answered = try #require(headers[Self.requestID])
            if echoed { #expect(answered == sent) } else { #expect(answered != sent && answered.count == 16) }
            // Errors carry one too, and each request without one gets its own.
            let problem = try await client.execute(uri: "/api/v1/me", method: .get) { $0.headers[Self.requestID] }
            let other = try await client.execute(uri: "/api/v1/me", method: .get) { $0.headers[Self.requestID] }
            #expect(problem != nil && problem != other)
        }
    }
}
