import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OIDC
import WebAuthn

/// `application/x-www-form-urlencoded` as OAuth uses it (RFC 6749 Appendix B): names and values in
/// order, percent-decoded, `+` as a space. Nil for text that is not valid form encoding (a bad
/// escape, or bytes that are not UTF-8 once decoded).
package enum OAuthForm {
    package static func parse(_ text: Substring) -> [(name: String, value: String)]? {
        // Over the UTF-8 bytes: splitting a Substring on Characters walks grapheme boundaries, and was
        // most of the cost of reading an authorization request's query.
        let bytes = Array(text.utf8)
        var pairs: [(name: String, value: String)] = []
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
            if end > start {
                let field = bytes[start..<end]
                let equals = field.firstIndex(of: UInt8(ascii: "="))
                guard let name = decode(field[..<(equals ?? end)]), let value = decode(equals.map { field[($0 + 1)...] } ?? [])
                else { return nil }
                pairs.append((name, value))
            }
            start = end + 1
        }
        return pairs
    }

    static func decode(_ text: Substring) -> String? {
        decode(ArraySlice(text.utf8))
    }

    static func decode(_ text: ArraySlice<UInt8>) -> String? {
        // Most names and values need no decoding at all.
        if !text.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) { return String(validating: text, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var iterator = text.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexDigitValue), let low = iterator.next().flatMap(hexDigitValue) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The parameters of a request: the query of a GET, the form body of a POST (which must be
    /// `application/x-www-form-urlencoded`, RFC 6749 §3.2, at most 64 KiB). Nil when malformed.
    package static func parameters(_ request: Request) async throws -> [(name: String, value: String)]? {
        if request.method == .get { return parse(Substring(request.uri.query ?? "")) }
        guard let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased(),
              type == "application/x-www-form-urlencoded"
        else { return nil }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 64 * 1024) } catch { return nil }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else { return nil }
        return parse(Substring(text))
    }
}
