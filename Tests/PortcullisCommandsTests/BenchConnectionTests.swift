import NIOCore
@testable import PortcullisBench
import Testing

/// The load generator's reading of response heads: it must not count a sign-in whose answer it
/// misread.
@Suite struct BenchConnectionTests {
    static func parse(_ head: String) throws -> (status: Int, length: Int) {
        let bytes = Array(head.utf8)
        return try bytes.withUnsafeBytes { try BenchConnection.parseHead($0) }
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 17\r\nContent-Type: application/json\r\n\r\n", 200, 17),
        ("HTTP/1.1 201 Created\r\ncontent-length:5\r\n\r\n", 201, 5),
        ("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\nCONTENT-LENGTH:  120\r\n\r\n", 429, 120),
        ("HTTP/1.1 204 No Content\r\n\r\n", 204, 0),
        ("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 404, 0),
    ])
    func readsStatusAndLength(_ head: String, _ status: Int, _ length: Int) throws {
        let parsed = try Self.parse(head)
        #expect(parsed.status == status)
        #expect(parsed.length == length)
    }

    @Test(arguments: [
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 99 Low\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    ])
    func refusesWhatItCannotRead(_ head: String) {
        #expect(throws: BenchConnection.Failure.self) { try Self.parse(head) }
    }

    @Test func findsTheEndOfTheHeadOnlyWhenItIsThere() {
        #expect(BenchConnection.endOfHead(.init(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")) == nil)
        #expect(BenchConnection.endOfHead(.init(string: "HTTP/1.1 200 OK\r\n\r\n{}")) == 19)
    }
}
