import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Where e-mail goes: an SMTP server in production, a sink in tests.
public protocol MailTransport: Sendable {
    /// Sends one message (`message` is the full RFC 5322 text with CRLF line ends) to `recipients`.
    func send(from: String, to recipients: [String], message: [UInt8]) async throws
}

/// Why an SMTP exchange failed. Carries the server's reply for logs; never shown to clients.
public struct SMTPError: Error, CustomStringConvertible {
    /// What went wrong, with the server's reply when there was one.
    public let description: String
}

/// A small SMTP client (RFC 5321): EHLO, optional STARTTLS (RFC 3207) or implicit TLS (RFC 8314),
/// optional AUTH PLAIN (RFC 4954), one message per connection, a deadline on the whole exchange.
public struct SMTPMailer: MailTransport {
    /// How the connection is protected.
    public enum Security: String, CaseIterable, Sendable {
        /// Plain text: only for a relay on the same host or network.
        case none
        /// Upgrade with STARTTLS before anything else is sent; refuse the server if it cannot.
        case starttls
        /// TLS from the first byte (submissions on port 465).
        case tls
    }

    /// The SMTP server.
    public var host: String
    public var port: Int
    /// How the connection is protected.
    public var security: Security
    /// AUTH PLAIN credentials; sent only over TLS.
    public var username: String?
    public var password: String?
    /// PEM certificates to trust instead of the system's roots (a private CA).
    public var trustRoots: [NIOSSLCertificate]?
    /// The name this client gives in EHLO.
    public var clientName: String
    /// The deadline for the whole exchange.
    public var timeout: Duration

    /// A client for `host:port`.
    public init(host: String, port: Int, security: Security, username: String? = nil, password: String? = nil,
                trustRoots: [NIOSSLCertificate]? = nil, clientName: String = "portcullis", timeout: Duration = .seconds(20)) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.trustRoots = trustRoots
        self.clientName = clientName
        self.timeout = timeout
    }

    func tlsContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let trustRoots { configuration.trustRoots = .certificates(trustRoots) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Sends one message over a new connection. Addresses with spaces, controls or angle brackets are refused.
    public func send(from: String, to recipients: [String], message: [UInt8]) async throws {
        for address in [from] + recipients where address.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) {
            throw SMTPError(description: "refusing an address with spaces, controls or brackets")
        }
        let context = try tlsContext()
        let host = self.host
        let implicitTLS = security == .tls
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicitTLS { try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: host)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        // The conversation races the deadline; whichever ends first, executeThenClose closes the connection.
        try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var conversation = SMTPConversation(channel: channel.channel, lines: inbound.makeAsyncIterator(), outbound: outbound)
                    try await self.converse(&conversation, context: context, from: from, to: recipients, message: message)
                }
                group.addTask {
                    try await Task.sleep(for: self.timeout)
                    throw SMTPError(description: "no answer from \(host) within \(self.timeout)")
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    func converse(_ c: inout SMTPConversation, context: NIOSSLContext, from: String, to recipients: [String], message: [UInt8]) async throws {
        _ = try await c.expect(220...220, after: "greeting")
        try await c.write("EHLO \(clientName)")
        var extensions = try await c.expect(250...250, after: "EHLO")
        if security == .starttls {
            guard extensions.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                throw SMTPError(description: "the server does not offer STARTTLS")
            }
            try await c.write("STARTTLS")
            _ = try await c.expect(220...220, after: "STARTTLS")
            // TLS goes in front of everything, so that every later byte either way is encrypted.
            let channel = c.channel
            let host = self.host
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: host), position: .first)
            }.get()
            try await c.write("EHLO \(clientName)")
            extensions = try await c.expect(250...250, after: "EHLO after STARTTLS")
        }
        if let username, let password {
            guard security != .none else { throw SMTPError(description: "refusing to send credentials without TLS") }
            let token = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            try await c.write("AUTH PLAIN \(token)")
            _ = try await c.expect(235...235, after: "AUTH")
        }
        try await c.write("MAIL FROM:<\(from)>")
        _ = try await c.expect(250...250, after: "MAIL FROM")
        for recipient in recipients {
            try await c.write("RCPT TO:<\(recipient)>")
            _ = try await c.expect(250...251, after: "RCPT TO")
        }
        try await c.write("DATA")
        _ = try await c.expect(354...354, after: "DATA")
        // Dot-stuffing (RFC 5321 §4.5.2): a line that starts with "." gets another.
        var body = ByteBuffer()
        for line in String(decoding: message, as: UTF8.self).components(separatedBy: "\r\n") {
            body.writeString((line.hasPrefix(".") ? "." : "") + line + "\r\n")
        }
        body.writeString(".\r\n")
        try await c.outbound.write(body)
        _ = try await c.expect(250...250, after: "end of data")
        try await c.write("QUIT")
        _ = try? await c.reply()
    }
}

/// One SMTP conversation: commands out, replies in, in order, on one connection.
struct SMTPConversation {
    /// The connection under the async wrapper, for the STARTTLS upgrade.
    let channel: any Channel
    var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    func write(_ command: String) async throws {
        try await outbound.write(ByteBuffer(string: command + "\r\n"))
    }

    /// One reply whose code is in `codes`, else an error naming the command and the reply.
    mutating func expect(_ codes: ClosedRange<Int>, after command: String) async throws -> [String] {
        let reply = try await reply()
        guard codes.contains(reply.code) else { throw SMTPError(description: "\(command): \(reply.code) \(reply.text.joined(separator: " "))") }
        return reply.text
    }

    /// One reply: lines `NNN-text` continue it, `NNN text` ends it (RFC 5321 §4.2.1).
    mutating func reply() async throws -> (code: Int, text: [String]) {
        var text: [String] = []
        while true {
            guard let line = try await lines.next() else { throw SMTPError(description: "the connection closed") }
            let bytes = Array(line.readableBytesView)
            guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)) else {
                throw SMTPError(description: "not an SMTP reply: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
            }
            text.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
            if bytes.count == 3 || bytes[3] == UInt8(ascii: " ") { return (code, text) }
            guard bytes[3] == UInt8(ascii: "-"), text.count < 100 else {
                throw SMTPError(description: "not an SMTP reply: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
            }
        }
    }
}

/// Splits the server's bytes into lines at LF (dropping a CR before it); a line over 4 KiB is an error.
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 4096 { throw SMTPError(description: "a reply line over 4 KiB") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard var line = buffer.readSlice(length: length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1) ?? line }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}
