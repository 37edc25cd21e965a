import Accounts
import Testing
import WebAuthn

/// Each closed vocabulary has one list of spellings: every value parses back from its own
/// spelling, the spellings are distinct, and anything else is refused.
@Suite struct VocabularyTests {
    static func check<T: Hashable>(_ all: [T], _ spelling: (T) -> String, _ parse: (String) -> T?) {
        #expect(!all.isEmpty)
        #expect(Set(all.map(spelling)).count == all.count)
        for value in all { #expect(parse(spelling(value)) == value) }
        for wrong in ["", "PASSKEY", "unknown", " open"] { #expect(parse(wrong) == nil, "\(wrong)") }
    }

    @Test func sessionBirths() {
        Self.check(SessionBirth.Kind.allCases, \.rawValue, SessionBirth.Kind.init(rawValue:))
        #expect(SessionBirth.Kind.allCases.map(\.rawValue) == ["passkey", "device-approval", "recovered"])
    }

    @Test func ceremonyKinds() {
        Self.check(CeremonyKind.allCases, \.rawValue, CeremonyKind.init(rawValue:))
        #expect(CeremonyKind.allCases.count == 6)
    }

    @Test func proofKinds() {
        Self.check(RecoveryProof.Kind.allCases, \.rawValue, RecoveryProof.Kind.init(rawValue:))
        #expect(RecoveryProof.Kind.allCases.map(\.rawValue) == ["contact", "code", "admin"])
    }

    @Test func signupModes() {
        Self.check(AccountsPolicy.SignupMode.allCases, \.rawValue, AccountsPolicy.SignupMode.init(rawValue:))
        #expect(AccountsPolicy.SignupMode.allCases.map(\.rawValue) == ["open", "invite-only"])
    }

    @Test func securityEventKinds() {
        Self.check(SecurityEvent.Kind.allCases, \.rawValue, SecurityEvent.Kind.init(rawValue:))
    }

    @Test func hintsAndUserVerification() {
        Self.check(PublicKeyCredentialHint.allCases, \.rawValue, PublicKeyCredentialHint.init(rawValue:))
        #expect(PublicKeyCredentialHint.allCases.map(\.rawValue) == ["security-key", "client-device", "hybrid"])
        Self.check(UserVerificationRequirement.allCases, \.rawValue, UserVerificationRequirement.init(rawValue:))
    }
}

/// Usernames are compared as their bytes in the store, so they are normalized to one spelling.
@Suite struct UsernameNormalizationTests {
    @Test(arguments: [
        ("Alice", "alice"), (" bob ", "bob"), ("cafe\u{301}", "caf\u{E9}"), ("CAF\u{C9}", "caf\u{E9}"), ("\u{212A}elvin", "kelvin"),
        ("A\u{30A}ngstr\u{F6}m", "\u{E5}ngstr\u{F6}m"),
    ])
    func oneSpelling(_ typed: String, _ stored: String) throws {
        let normalized = try PasskeyService.normalize(username: typed)
        #expect(Array(normalized.utf8) == Array(stored.utf8))
    }

    @Test(arguments: ["", "a b", "a/b", "<script>", String(repeating: "a", count: 65)])
    func refused(_ typed: String) {
        #expect(throws: AccountsError.self) { try PasskeyService.normalize(username: typed) }
    }
}

/// Names shown to other people and written into notices carry no control or direction-override characters.
@Suite struct PlainTextTests {
    @Test(arguments: ["Alice", "Zoë", "\u{5E2}\u{5D1}\u{5E8}\u{5D9}\u{5EA}", "Alice\u{200F}", "🔑 key", "O'Brien & \"Co\""])
    func clean(_ text: String) { #expect(PlainText.isClean(text)) }

    @Test(arguments: ["a\nb", "a\rb", "a\u{0}b", "a\tb", "\u{1B}[31m", "a\u{85}b", "a\u{202A}b", "a\u{202E}b", "a\u{2066}b", "a\u{2069}b"])
    func refused(_ text: String) { #expect(!PlainText.isClean(text)) }
}
