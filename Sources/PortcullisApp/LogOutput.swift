import Configuration
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `log.*`: how the server's log lines look.
/// - `log.format`: `text` (one readable line per record) or `json` (one JSON object per line, for a
///   log collector). Default `text`.
/// - `log.level`: the least severe level written: `trace`, `debug`, `info`, `notice`, `warning`,
///   `error` or `critical`. Default `info`.
public struct LogConfiguration: Sendable {
    public static let key = "log"
    /// The two line formats.
    public enum Format: String, Sendable, CaseIterable { case text, json }
    public var format = Format.text
    public var level = Logger.Level.info

    /// Defaults only.
    public init() {}

    /// Reads the section from a reader scoped to `log`.
    public init(reader: ConfigReader) throws {
        let r = SectionReader(reader, section: Self.key)
        if let v = try r.oneOf("format", Format.allCases.map(\.rawValue), Format.init(rawValue:)) { format = v }
        if let v = try r.oneOf("level", Logger.Level.allCases.map(\.rawValue), Logger.Level.init(rawValue:)) { level = v }
    }

    /// A logger that writes this configuration's lines to standard error.
    public func logger(label: String) -> Logger {
        let format = format
        var logger = Logger(label: label) { _ in LineLogHandler(format: format, output: .standardError) }
        logger.logLevel = level
        return logger
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

/// A `LogHandler` that writes each record as one line, whole (a lock keeps lines from interleaving):
/// `2026-12-06T01:02:03.456Z info request method=GET route=/healthz ...` as text, or
/// `{"time":"...","level":"info","message":"request","method":"GET",...}` as JSON. Metadata values
/// are written as strings, keys sorted, so lines are stable to read and to search.
///
/// Hummingbird's own request number (`hb.request.id`) is left out: every line of a request already
/// carries `request_id`, the ID its response names in `X-Request-ID`.
///
/// A line is built as bytes, with no string per field: the server writes several per sign-in.
public struct LineLogHandler: LogHandler {
    /// Where the lines go.
    public struct Output: Sendable {
        let write: @Sendable ([UInt8]) -> Void
        /// The process's standard error.
        public static let standardError = Output(bytes: { line in
            line.withUnsafeBufferPointer { bytes in
                lock.withLock {
                    // One write(2) per line, straight from the line's bytes (no Data, no FileHandle).
                    var offset = 0
                    while offset < bytes.count {
                        let written = systemWrite(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                        if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
                    }
                }
            }
        })
        /// Lines handed to `write` (tests).
        public init(write: @escaping @Sendable (String) -> Void) {
            self.write = { write(String(decoding: $0, as: UTF8.self)) }
        }
        init(bytes: @escaping @Sendable ([UInt8]) -> Void) { write = bytes }
        private static let lock = NSLock()
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let format: LogConfiguration.Format
    let output: Output

    public init(format: LogConfiguration.Format, output: Output) {
        self.format = format
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Metadata keys that are never written.
    static let omitted = "hb.request.id"

    public func log(event: LogEvent) {
        // The record's own metadata over the handler's, without building a merged dictionary.
        let extra = event.metadata ?? [:]
        var fields: [(key: String, value: Logger.MetadataValue)] = []
        fields.reserveCapacity(extra.count + metadata.count)
        for (key, value) in extra where key != Self.omitted { fields.append((key, value)) }
        for (key, value) in metadata where key != Self.omitted && extra[key] == nil { fields.append((key, value)) }
        fields.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        let now = Date().timeIntervalSince1970
        let seconds = now.rounded(.down)
        let milliseconds = min(999, Int((now - seconds) * 1000))
        var line: [UInt8] = []
        line.reserveCapacity(320)
        switch format {
        case .text:
            Self.appendTimestamp(seconds: Int(seconds), milliseconds: milliseconds, to: &line)
            line.append(0x20)
            line.append(contentsOf: event.level.rawValue.utf8)
            line.append(0x20)
            Self.appendRaw(event.message.description, to: &line)
            for field in fields {
                line.append(0x20)
                Self.appendRaw(field.key, to: &line)
                line.append(UInt8(ascii: "="))
                Self.appendText(field.value.description, to: &line)
            }
            line.append(0x0A)
        case .json:
            line.append(contentsOf: #"{"time":""#.utf8)
            Self.appendTimestamp(seconds: Int(seconds), milliseconds: milliseconds, to: &line)
            line.append(contentsOf: #"","level":"#.utf8)
            Self.appendJSON(event.level.rawValue, to: &line)
            line.append(contentsOf: #","message":"#.utf8)
            Self.appendJSON(event.message.description, to: &line)
            for field in fields where !["time", "level", "message"].contains(field.key) {
                line.append(UInt8(ascii: ","))
                Self.appendJSON(field.key, to: &line)
                line.append(UInt8(ascii: ":"))
                Self.appendJSON(field.value.description, to: &line)
            }
            line.append(contentsOf: "}\n".utf8)
        }
        output.write(line)
    }

    /// `2026-12-06T01:02:03.456Z`: the UTC time of `seconds` since 1970 (not before it), to the
    /// millisecond.
    package static func timestamp(seconds: Int, milliseconds: Int) -> String {
        var bytes: [UInt8] = []
        appendTimestamp(seconds: seconds, milliseconds: milliseconds, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``timestamp(seconds:milliseconds:)``. The calendar date comes from the day count by the
    /// proleptic Gregorian rules (Howard Hinnant's `civil_from_days`): Foundation's ISO 8601
    /// formatter took longer than the rest of a log line.
    static func appendTimestamp(seconds: Int, milliseconds: Int, to out: inout [UInt8]) {
        let days = seconds / 86_400, second = seconds % 86_400
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        /// `value` in decimal, at least `width` digits (zeros in front).
        func digits(_ value: Int, _ width: Int) {
            let text = String(value).utf8
            for _ in text.count..<max(width, text.count) { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: text)
        }
        /// `value` (below 10 to the `width`) in exactly `width` (2 or 3) digits, without a String.
        func small(_ value: Int, _ width: Int) {
            if width == 3 { out.append(UInt8(ascii: "0") + UInt8(value / 100 % 10)) }
            out.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        digits(year, 4)
        out.append(UInt8(ascii: "-"))
        small(month, 2)
        out.append(UInt8(ascii: "-"))
        small(day, 2)
        out.append(UInt8(ascii: "T"))
        small(second / 3600, 2)
        out.append(UInt8(ascii: ":"))
        small(second % 3600 / 60, 2)
        out.append(UInt8(ascii: ":"))
        small(second % 60, 2)
        out.append(UInt8(ascii: "."))
        small(milliseconds, 3)
        out.append(UInt8(ascii: "Z"))
    }

    /// Appends text as it is.
    static func appendRaw(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    /// Appends a text value, quoted when it holds a space, a quote or `=`, with line breaks escaped.
    static func appendText(_ value: String, to out: inout [UInt8]) {
        // Bytes, not Characters: the check runs for every value of every line. Any byte below 0x20
        // (line breaks among them), and the multi-byte line separators, send the value to appendJSON.
        var value = value
        let plain = value.withUTF8 { bytes in
            guard !bytes.isEmpty, !bytes.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x7F || $0 == 0xE2 || $0 == 0xC2 })
            else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if !plain { appendJSON(value, to: &out) }
    }

    /// Appends a JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped.
    static func appendJSON(_ value: String, to out: inout [UInt8]) {
        var value = value
        // Most values need no escape at all: printable ASCII without a quote or a backslash.
        let plain = value.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == 0x22 || $0 == 0x5C }) else { return false }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: bytes)
            out.append(UInt8(ascii: "\""))
            return true
        }
        if plain { return }
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                escaped += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        escaped += "\""
        appendRaw(escaped, to: &out)
    }
}
