import NIOCore

/// A template rendered ahead of time, for a page shown so often that Mustache's work per request
/// (a look-up by name and a dynamic cast for every tag, a String built and copied) shows in its cost:
/// the sign-in page every app's sign-in passes through.
///
/// The template is rendered once for each combination of its true-or-false `flags` (the sections a
/// page turns on or off), with a marker in place of each text `field`. What stays between the
/// markers is kept as bytes; a request's page is those bytes with its values put where the markers
/// were, escaped for HTML (``HTMLText``) where the template escapes them (`{{field}}`) and as they
/// are where it does not (`{{{field}}}`). Each marker shows which it was: it holds an `&`, which
/// escaping turns into `&amp;`.
///
/// The result is the page Mustache renders, byte for byte. Making one checks that for each
/// combination, with values that need escaping and with empty values, and refuses a template that
/// uses a field as a section (whose page then depends on the value, not only on where it goes).
package struct PrerenderedPage: Sendable {
    /// A piece of a rendered page: template text, or the value of a field.
    enum Piece: Equatable, Sendable {
        case text([UInt8])
        case field(Int, escaped: Bool)
    }

    /// The template does not render the same ahead of time as per request.
    package struct Mismatch: Error, CustomStringConvertible {
        package let description: String
    }

    let fields: [String]
    let flags: [String]
    /// The pieces of each combination of flags, indexed by the flags as bits (the first flag is bit 0).
    let variants: [[Piece]]
    /// The bytes of template text in each variant (what a page holds besides its values).
    let textLengths: [Int]

    /// Renders a template ahead for every combination of `flags`, and checks it. `render` is
    /// Mustache's rendering of the template with a view (nil when it has no such template).
    package init(template: String, fields: [String], flags: [String], render mustache: (Any) -> String?) throws {
        precondition(flags.count <= 8, "a page is prerendered for every combination of its flags")
        self.fields = fields
        self.flags = flags
        var variants: [[Piece]] = []
        for bits in 0..<(1 << flags.count) {
            let view = Self.view(fields: fields, values: fields.indices.map(Self.marker), flags: flags, bits: bits)
            guard let text = mustache(view) else { throw Mismatch(description: "no template named \(template)") }
            variants.append(try Self.pieces(of: Array(text.utf8), fieldCount: fields.count))
        }
        self.variants = variants
        textLengths = variants.map { pieces in
            pieces.reduce(0) { total, piece in
                if case .text(let bytes) = piece { return total + bytes.count }
                return total
            }
        }
        // The same page as Mustache's, for values that need escaping and for empty ones.
        let probes: [[String]] = [
            fields.indices.map { "<\"'&> \($0) é\u{301}\"\u{301}" },
            fields.map { _ in "" },
        ]
        for bits in 0..<(1 << flags.count) {
            for values in probes {
                let expected = mustache(Self.view(fields: fields, values: values, flags: flags, bits: bits)) ?? ""
                let rendered = render(values, flags: Self.flagValues(bits, count: flags.count))
                guard rendered == Array(expected.utf8) else {
                    throw Mismatch(description: "\(template) renders differently ahead of time: a field is used as a section, or a marker is in its text")
                }
            }
        }
    }

    /// The page for `values` (one per field, in order) and `flags` (one per flag, in order).
    package func render(_ values: [String], flags set: [Bool]) -> [UInt8] {
        precondition(values.count == fields.count && set.count == flags.count)
        var bits = 0
        for (index, on) in set.enumerated() where on { bits |= 1 << index }
        var out: [UInt8] = []
        out.reserveCapacity(textLengths[bits] + values.reduce(0) { $0 + $1.utf8.count + 16 })
        for piece in variants[bits] {
            switch piece {
            case .text(let bytes): out.append(contentsOf: bytes)
            case .field(let index, let escaped):
                var value = values[index]
                value.withUTF8 { bytes in
                    if escaped { HTMLText.append(escaping: bytes, to: &out) } else { out.append(contentsOf: bytes) }
                }
            }
        }
        return out
    }

    /// The page as a response body.
    package func body(_ values: [String], flags: [Bool]) -> ByteBuffer {
        ByteBuffer(bytes: render(values, flags: flags))
    }

    // MARK: Making one

    /// The marker of field `index`: control characters that no template holds around a number and
    /// an `&`, all of which escaping leaves as they are but the `&`.
    static func marker(_ index: Int) -> String { "\u{1}\u{2}\(index)&\u{2}\u{1}" }

    static func view(fields: [String], values: [String], flags: [String], bits: Int) -> [String: Any] {
        var view: [String: Any] = [:]
        for (name, value) in zip(fields, values) { view[name] = value }
        for (index, name) in flags.enumerated() { view[name] = bits & (1 << index) != 0 }
        return view
    }

    static func flagValues(_ bits: Int, count: Int) -> [Bool] {
        (0..<count).map { bits & (1 << $0) != 0 }
    }

    /// Splits a page rendered with markers into text and fields.
    static func pieces(of text: [UInt8], fieldCount: Int) throws -> [Piece] {
        var pieces: [Piece] = []
        var start = 0
        var index = 0
        func flushText(until end: Int) {
            if end > start { pieces.append(.text(Array(text[start..<end]))) }
        }
        while index < text.count {
            guard text[index] == 1, index + 1 < text.count, text[index + 1] == 2 else {
                index += 1
                continue
            }
            // \u{1}\u{2} digits (& | &amp;) \u{2}\u{1}
            var cursor = index + 2
            var number = 0
            var digits = 0
            while cursor < text.count, text[cursor] >= UInt8(ascii: "0"), text[cursor] <= UInt8(ascii: "9"), digits < 3 {
                number = number * 10 + Int(text[cursor] - UInt8(ascii: "0"))
                cursor += 1
                digits += 1
            }
            let raw = Array("&\u{2}\u{1}".utf8), escaped = Array("&amp;\u{2}\u{1}".utf8)
            let rest = text[cursor...]
            let isEscaped: Bool
            if rest.starts(with: escaped) {
                isEscaped = true
                cursor += escaped.count
            } else if rest.starts(with: raw) {
                isEscaped = false
                cursor += raw.count
            } else {
                throw Mismatch(description: "a marker was cut by the template")
            }
            guard digits > 0, number < fieldCount else { throw Mismatch(description: "a marker names no field") }
            flushText(until: index)
            pieces.append(.field(number, escaped: isEscaped))
            index = cursor
            start = cursor
        }
        flushText(until: text.count)
        return pieces
    }
}
