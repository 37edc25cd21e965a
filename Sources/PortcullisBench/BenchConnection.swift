import Foundation
import PortcullisCommands
import NIOCore
import NIOPosix

/// A keep-alive HTTP/1.1 connection for the load generator: one request at a time, no pool, no
/// decompression, a response read by its Content-Length. AsyncHTTPClient cost the generator about as
/// much CPU as the server spent on sign-ins; on a shared 2-core machine that CPU is the server's.
final class BenchConnection: Sendable {
    let channel: any Channel
    let host: String
    private let reader: Reader

    /// Bytes from the server, read in order by the one task that owns the connection.
    final class Reader: @unchecked Sendable {
        // Used by one task at a time: requests on a connection are sequential.
        var iterator: AsyncStream<ByteBuffer>.AsyncIterator
        var pending = ByteBuffer()
        init(_ stream: AsyncStream<ByteBuffer>) { iterator = stream.makeAsyncIterator() }
    }

    final class Forwarder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<ByteBuffer>.Continuation
        init(_ continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            continuation.finish()
            context.close(promise: nil)
        }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    private init(channel: any Channel, host: String, reader: Reader) {
        self.channel = channel
        self.host = host
        self.reader = reader
    }

    /// Connects to the `http://host:port` of `url`.
    static func connect(url: String) async throws -> BenchConnection {
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host else {
            throw Failure(description: "the load generator speaks plain http://host:port only")
        }
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Forwarder(continuation)) }
            }
            .connect(host: host, port: components.port ?? 80).get()
        return BenchConnection(channel: channel, host: "\(host):\(components.port ?? 80)", reader: Reader(stream))
    }

    /// POSTs `body` as JSON; returns the status and the response body.
    func post(_ path: String, origin: String, body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        var request = ByteBuffer()
        request.writeString("POST \(path) HTTP/1.1\r\nHost: \(host)\r\nOrigin: \(origin)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
        request.writeBytes(body)
        try await channel.writeAndFlush(request)
        return try await response()
    }

    /// Sends any request (`headers` as written, without Host and Content-Length); returns the status,
    /// the `Location` and the first `Set-Cookie` pair (name=value) when present, and the body.
    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws
        -> (status: Int, location: String?, cookie: String?, body: [UInt8])
    {
        var request = ByteBuffer()
        request.writeString("\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n")
        for (name, value) in headers { request.writeString("\(name): \(value)\r\n") }
        request.writeString("Content-Length: \(body.count)\r\n\r\n")
        request.writeBytes(body)
        try await channel.writeAndFlush(request)
        var location: String?
        var cookie: String?
        let (status, bytes) = try await response { name, value in
            if Self.equalsIgnoringCase(name, "location") { location = String(decoding: value, as: UTF8.self) }
            if Self.equalsIgnoringCase(name, "set-cookie"), cookie == nil {
                cookie = String(decoding: value.prefix { $0 != UInt8(ascii: ";") }, as: UTF8.self)
            }
        }
        return (status, location, cookie, bytes)
    }

    private func response(header: ((UnsafeRawBufferPointer.SubSequence, UnsafeRawBufferPointer.SubSequence) -> Void)? = nil) async throws
        -> (status: Int, body: [UInt8])
    {
        while true {
            if let headLength = Self.endOfHead(reader.pending) {
                let head = try reader.pending.withUnsafeReadableBytes {
                    try Self.parseHead(UnsafeRawBufferPointer(rebasing: $0[..<headLength]), header: header)
                }
                if reader.pending.readableBytes >= headLength + head.length {
                    reader.pending.moveReaderIndex(forwardBy: headLength)
                    let bytes = reader.pending.readBytes(length: head.length) ?? []
                    reader.pending.discardReadBytes()
                    return (head.status, bytes)
                }
            }
            guard var next = await reader.iterator.next() else { throw Failure(description: "the server closed the connection") }
            reader.pending.writeBuffer(&next)
        }
    }

    /// The length of the response head up to and including its blank line (CR LF CR LF), if it is all
    /// here. A plain scan: the generic `firstRange(of:)` on a ByteBufferView was a sixth of the
    /// generator's time.
    static func endOfHead(_ buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            var index = 3
            while index < bytes.count {
                if bytes[index] == 10, bytes[index - 1] == 13, bytes[index - 2] == 10, bytes[index - 3] == 13 { return index + 1 }
                index += 1
            }
            return nil
        }
    }

    /// The status code and Content-Length (0 when absent) of a response head, read from its bytes:
    /// splitting it into Strings was a fifth of the generator's time.
    static func parseHead(_ head: UnsafeRawBufferPointer,
                          header: ((UnsafeRawBufferPointer.SubSequence, UnsafeRawBufferPointer.SubSequence) -> Void)? = nil) throws
        -> (status: Int, length: Int)
    {
        let lines = head.split(separator: 10, omittingEmptySubsequences: true)
        // "HTTP/1.1 200 OK"
        guard let statusLine = lines.first, statusLine.starts(with: "HTTP/1.".utf8),
              let space = statusLine.firstIndex(of: UInt8(ascii: " ")),
              let status = decimal(statusLine[(space + 1)...].prefix { $0 != UInt8(ascii: " ") && $0 != 13 }), (100...599).contains(status)
        else { throw Failure(description: "not an HTTP response") }
        var length = 0
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = line[..<colon]
            if let header { header(name, line[(colon + 1)...].drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 13 }) }
            let value = line[(colon + 1)...].drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 13 && $0 != UInt8(ascii: " ") }
            if equalsIgnoringCase(name, "content-length") {
                guard let parsed = decimal(value) else { throw Failure(description: "a Content-Length that is not a number") }
                length = parsed
            } else if equalsIgnoringCase(name, "transfer-encoding") {
                throw Failure(description: "chunked responses are not read by the load generator")
            }
        }
        return (status, length)
    }

    private static func decimal(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 12 else { return nil }
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }

    private static func equalsIgnoringCase(_ bytes: some Collection<UInt8>, _ lowercase: StaticString) -> Bool {
        lowercase.withUTF8Buffer { expected in
            bytes.count == expected.count && zip(bytes, expected).allSatisfy { ($0 | 0x20) == $1 }
        }
    }

    func close() async { try? await channel.close() }
}
