import Foundation
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

    private func response() async throws -> (status: Int, body: [UInt8]) {
        while true {
            if let headEnd = Self.endOfHead(reader.pending) {
                let view = reader.pending.readableBytesView
                let end = (view.startIndex + headEnd - 4)..<(view.startIndex + headEnd)
                let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
                      let status = Int(statusLine.split(separator: " ")[1])
                else { throw Failure(description: "not an HTTP response") }
                var length = 0
                for line in lines.dropFirst() {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    let name = parts[0].lowercased()
                    if name == "content-length" { length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
                    if name == "transfer-encoding" { throw Failure(description: "chunked responses are not read by the load generator") }
                }
                let headLength = end.upperBound - view.startIndex
                if reader.pending.readableBytes >= headLength + length {
                    reader.pending.moveReaderIndex(forwardBy: headLength)
                    let bytes = reader.pending.readBytes(length: length) ?? []
                    reader.pending.discardReadBytes()
                    return (status, bytes)
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

    func close() async { try? await channel.close() }
}
