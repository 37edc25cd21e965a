import Foundation

/// Names that people give for others to read: a display name, a passkey's name, an app's name. They
/// are shown on pages, in the admin's lists and in notification e-mails, whose body is one `key: value`
/// line per detail.
public enum PlainText {
    /// Whether `text` is free of control characters (Unicode general category Cc: line breaks, tabs,
    /// NUL, escape) and of the bidirectional embeddings, overrides and isolates (U+202A to U+202E,
    /// U+2066 to U+2069), which reorder the text that follows them on screen (Unicode TR #9 §2.1,
    /// §2.2) and let a name pass for another or write lines of its own into a notice.
    public static func isClean(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            scalar.properties.generalCategory != .control && !(0x202A...0x202E).contains(scalar.value)
                && !(0x2066...0x2069).contains(scalar.value)
        }
    }

    /// What a refusal says after the name of the field.
    public static let refusal = "cannot hold line breaks, control characters or text-direction overrides."

    /// Throws ``AccountsError`` (`invalid_request`) naming `what` when `text`, trimmed, is not clean.
    static func check(_ text: String?, _ what: String) throws {
        guard let text, !isClean(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        throw AccountsError.invalid("\(what) \(refusal)")
    }
}
