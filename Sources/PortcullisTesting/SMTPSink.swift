import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A local SMTP server for tests: it accepts every message (or refuses recipients when told to),
/// offers STARTTLS when given a certificate, and keeps what it received.
public final class SMTPSink: Sendable {
    /// One received message.
    public struct Message: Sendable {
        /// The envelope sender and recipients.
        public let from: String
        public let recipients: [String]
        /// The DATA section with dot-stuffing undone, lines joined with CRLF.
        public let data: String
        /// Whether it came over TLS.
        public let overTLS: Bool
        /// The AUTH PLAIN credentials given, if any.
        public let credentials: (username: String, password: String)?

        /// The body after the blank line, base64-decoded when the message says so.
        public var text: String {
            guard let split = data.range(of: "\r\n\r\n") else { return data }
            let body = String(data[split.upperBound...])
            if data[..<split.lowerBound].contains("Content-Transfer-Encoding: base64"),
               let decoded = Data(base64Encoded: body.replacingOccurrences(of: "\r\n", with: "")) {
                return String(decoding: decoded, as: UTF8.self)
            }
            return body
        }
    }

    struct State {
        var messages: [Message] = []
        var refuseRecipients = false
    }

    private let state = Mutex(State())
    let channel: any Channel
    /// The port it listens on (127.0.0.1).
    public let port: Int

    /// Starts listening on a free port of 127.0.0.1. With `tls`, STARTTLS is offered.
    public init(tls: (chainPEM: String, keyPEM: String)? = nil) async throws {
        var context: NIOSSLContext?
        if let tls {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(tls.chainPEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(bytes: Array(tls.keyPEM.utf8), format: .pem)
            context = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        }
        let sslContext = context
        let box = StateBox()
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(SinkLineDecoder()))
                    try child.pipeline.syncOperations.addHandler(SinkSession(sink: box, tls: sslContext))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
        box.sink.withLock { $0 = self }
    }

    /// Refuse (with 550) every RCPT TO from now on, or accept again.
    public func refuseRecipients(_ refuse: Bool) { state.withLock { $0.refuseRecipients = refuse } }

    /// What was received so far.
    public var messages: [Message] { state.withLock { $0.messages } }

    var refusing: Bool { state.withLock { $0.refuseRecipients } }
    func record(_ message: Message) { state.withLock { $0.messages.append(message) } }

    /// Stops listening.
    public func close() async throws { try await channel.close() }
}

/// Lets the child handlers reach the sink once it is made.
final class StateBox: Sendable {
    let sink = Mutex<SMTPSink?>(nil)
}

struct SinkLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return .needMoreData }
        var line = buffer.readString(length: newline - buffer.readerIndex) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

/// One SMTP conversation, as a server.
final class SinkSession: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = String
    typealias OutboundOut = ByteBuffer
    // Touched only on the channel's event loop.
    let sink: StateBox
    let tls: NIOSSLContext?
    var from = ""
    var recipients: [String] = []
    var data: [String]?
    var overTLS = false
    var credentials: (String, String)?

    init(sink: StateBox, tls: NIOSSLContext?) {
        self.sink = sink
        self.tls = tls
    }

    func say(_ context: ChannelHandlerContext, _ text: String) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        say(context, "220 sink.test ESMTP")
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data input: NIOAny) {
        let line = unwrapInboundIn(input)
        if var lines = data {
            if line == "." {
                data = nil
                let message = SMTPSink.Message(from: from, recipients: recipients, data: lines.joined(separator: "\r\n"), overTLS: overTLS,
                                               credentials: credentials)
                sink.sink.withLock { $0 }?.record(message)
                say(context, "250 2.0.0 queued")
            } else {
                lines.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
                data = lines
            }
            return
        }
        let upper = line.uppercased()
        if upper.hasPrefix("EHLO") {
            say(context, "250-sink.test")
            if tls != nil && !overTLS { say(context, "250-STARTTLS") }
            say(context, "250 AUTH PLAIN")
        } else if upper == "STARTTLS", let tls, !overTLS {
            say(context, "220 2.0.0 go ahead")
            overTLS = true
            try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
        } else if upper.hasPrefix("AUTH PLAIN ") {
            let parts = (Data(base64Encoded: String(line.dropFirst(11))) ?? Data()).split(separator: 0, omittingEmptySubsequences: false)
            if parts.count == 3 { credentials = (String(decoding: parts[1], as: UTF8.self), String(decoding: parts[2], as: UTF8.self)) }
            say(context, "235 2.7.0 ok")
        } else if upper.hasPrefix("MAIL FROM:") {
            from = String(line.dropFirst(10)).trimmingCharacters(in: CharacterSet(charactersIn: "<> "))
            recipients = []
            say(context, "250 ok")
        } else if upper.hasPrefix("RCPT TO:") {
            if sink.sink.withLock({ $0 })?.refusing == true {
                say(context, "550 5.1.1 no such mailbox")
            } else {
                recipients.append(String(line.dropFirst(8)).trimmingCharacters(in: CharacterSet(charactersIn: "<> ")))
                say(context, "250 ok")
            }
        } else if upper == "DATA" {
            data = []
            say(context, "354 end with .")
        } else if upper == "QUIT" {
            say(context, "221 bye")
            context.close(promise: nil)
        } else {
            say(context, "502 5.5.2 not implemented")
        }
    }
}
