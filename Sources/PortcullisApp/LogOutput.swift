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
public struct LineLogHandler: LogHandler {
    /// Where the lines go.
    public struct Output: Sendable {
        let write: @Sendable (String) -> Void
        /// The process's standard error.
        public static let standardError = Output { line in
            var line = line
            line.withUTF8 { bytes in
                lock.withLock {
                    // One write(2) per line, straight from the string's bytes (no Data, no FileHandle).
                    var offset = 0
                    while offset < bytes.count {
                        let written = systemWrite(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                        if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
                    }
                }
            }
        }
        /// Lines handed to `write` (tests).
        public init(write: @escaping @Sendable (String) -> Void) { self.write = write }
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

    public func log(event: LogEvent) {
        // The record's own metadata over the handler's, without building a merged dictionary.
        let extra = event.metadata ?? [:]
        var keys = Array(extra.keys)
        for key in metadata.keys where extra[key] == nil { keys.append(key) }
        keys.sort()
        func value(_ key: String) -> String { (extra[key] ?? metadata[key])?.description ?? "" }
        let now = Date().timeIntervalSince1970
        let seconds = now.rounded(.down)
        let time = Self.timestamp(seconds: Int(seconds), milliseconds: min(999, Int((now - seconds) * 1000)))
        switch format {
        case .text:
            var line = "\(time) \(event.level.rawValue) \(event.message)"
            for key in keys { line += " \(key)=\(Self.text(value(key)))" }
            output.write(line + "\n")
        case .json:
            var line = "{\"time\":\(Self.json(time)),\"level\":\(Self.json(event.level.rawValue)),\"message\":\(Self.json(event.message.description))"
            for key in keys where !["time", "level", "message"].contains(key) {
                line += ",\(Self.json(key)):\(Self.json(value(key)))"
            }
            output.write(line + "}\n")
        }
    }

    /// `2026-12-06T01:02:03.456Z`: the UTC time of `seconds` since 1970 (not before it), to the
    /// millisecond. The calendar date comes from the day count by the proleptic Gregorian rules
    /// (Howard Hinnant's `civil_from_days`): Foundation's ISO 8601 formatter took longer than the
    /// rest of a log line.
    package static func timestamp(seconds: Int, milliseconds: Int) -> String {
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
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return digits(year, 4) + "-" + digits(month, 2) + "-" + digits(day, 2) + "T" + digits(second / 3600, 2) + ":"
            + digits(second % 3600 / 60, 2) + ":" + digits(second % 60, 2) + "." + digits(milliseconds, 3) + "Z"
    }

    /// A text value, quoted when it holds a space, a quote or `=`, with line breaks escaped.
    static func text(_ value: String) -> String {
        // Bytes, not Characters: the check runs for every value of every line. Any byte below 0x20
        // (line breaks among them), and the multi-byte line separators, send the value to json().
        guard value.isEmpty || value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x7F || $0 == 0xE2 || $0 == 0xC2 })
        else { return value }
        return json(value)
    }

    /// A JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped.
    static func json(_ value: String) -> String {
        // Most values need no escape at all: printable ASCII without a quote or a backslash.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == 0x22 || $0 == 0x5C }) { return "\"" + value + "\"" }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
