import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where webhook deliveries go: HTTP in production, a recorder in tests.
public protocol WebhookTransport: Sendable {
    /// Posts `body`; returns the HTTP status.
    func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int
}

/// Posts with AsyncHTTPClient.
public struct HTTPWebhookTransport: WebhookTransport {
    public init() {}
    public func post(url: String, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}
