import Configuration
import Foundation

/// Reads one section of the configuration strictly. swift-configuration's optional and default
/// getters answer `nil` for a value that is present but does not convert ("eighty" for a port);
/// here such a value is refused with the key's full name, so a typo never silently becomes the
/// default. An empty string counts as absent (an environment variable set to nothing).
struct SectionReader {
    let reader: ConfigReader
    /// The section's prefix (`http`), for error messages; empty for top-level keys.
    let section: String

    /// `scoped` is the reader already scoped to `section` (`reader.scoped(to: "http")`).
    init(_ scoped: ConfigReader, section: String) {
        reader = scoped
        self.section = section
    }

    /// The key's full name, as an operator writes it.
    func name(_ key: String) -> String { section.isEmpty ? key : "\(section).\(key)" }

    func invalid(_ key: String, _ reason: String) -> ServerConfiguration.Invalid {
        ServerConfiguration.Invalid(key: name(key), reason: reason)
    }

    /// Whether the key holds anything at all, of whatever type.
    private func present(_ key: String) -> Bool {
        let k = ConfigKey(key)
        return reader.string(forKey: k).map { !$0.isEmpty } ?? false || reader.int(forKey: k) != nil || reader.double(forKey: k) != nil
            || reader.bool(forKey: k) != nil || reader.stringArray(forKey: k) != nil
    }

    func string(_ key: String) -> String? {
        reader.string(forKey: ConfigKey(key)).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A secret: the reader redacts it in its access reports.
    func secret(_ key: String) -> String? {
        reader.string(forKey: ConfigKey(key), isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A secret given either inline (`key`) or as the first line of a file (`fileKey`), never both.
    func secret(_ key: String, orFile fileKey: String, what: String) throws -> String? {
        let inline = secret(key)
        guard let file = string(fileKey) else { return inline }
        guard inline == nil else { throw invalid(fileKey, "give \(key) or \(fileKey), not both") }
        guard let data = FileManager.default.contents(atPath: file),
              let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first, !line.isEmpty
        else { throw invalid(fileKey, "cannot read \(what) from \(file)") }
        return String(line)
    }

    /// A list: a JSON array, or a comma-separated string (environment variables).
    func list(_ key: String) -> [String]? {
        if let text = string(key) {
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return reader.stringArray(forKey: ConfigKey(key)).map { $0.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    /// An integer within `range`.
    func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        // A provider of text (the environment, a string in a file) holds "9000", not 9000.
        guard let value = reader.int(forKey: ConfigKey(key)) ?? string(key).flatMap({ Int($0) }) else {
            if present(key) { throw invalid(key, "\"\(string(key) ?? "that value")\" is not an integer in \(range)") }
            return nil
        }
        guard range.contains(value) else { throw invalid(key, "\"\(value)\" is not an integer in \(range)") }
        return value
    }

    /// A number of seconds within `range`.
    func seconds(_ key: String, _ range: ClosedRange<Int>) throws -> TimeInterval? {
        try int(key, range).map(TimeInterval.init)
    }

    /// `true` or `false` (also `yes`/`no` and `1`/`0` from the environment).
    func bool(_ key: String) throws -> Bool? {
        if let value = reader.bool(forKey: ConfigKey(key)) { return value }
        switch string(key)?.lowercased() {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: break
        }
        if present(key) { throw invalid(key, "\"\(string(key) ?? "that value")\" is not true or false") }
        return nil
    }

    /// One of a closed vocabulary.
    func oneOf<Value>(_ key: String, _ allowed: [String], _ make: (String) -> Value?) throws -> Value? {
        guard let text = string(key) else {
            if present(key) { throw invalid(key, "it is not one of \(allowed.joined(separator: ", "))") }
            return nil
        }
        guard allowed.contains(text), let value = make(text) else {
            throw invalid(key, "\"\(text)\" is not one of \(allowed.joined(separator: ", "))")
        }
        return value
    }
}
