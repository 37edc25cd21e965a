@testable import PortcullisHTTP
import Testing

/// `application/x-www-form-urlencoded` as RFC 6749 Appendix B reads it: names and values in order,
/// `+` as a space, `%XX` as a byte, the whole UTF-8; anything else refused as a whole.
@Suite struct OAuthFormTests {
    @Test(arguments: [
        ("", []),
        ("a=b", [("a", "b")]),
        ("a=b&c=d", [("a", "b"), ("c", "d")]),
        ("&&a=1&&", [("a", "1")]),
        ("a", [("a", "")]),
        ("a=", [("a", "")]),
        ("=b", [("", "b")]),
        ("a=b=c", [("a", "b=c")]),
        ("a=1&a=2", [("a", "1"), ("a", "2")]),
        ("scope=openid+profile", [("scope", "openid profile")]),
        ("x=%41%62%2B%26%3D", [("x", "Ab+&=")]),
        ("n%61me=v", [("name", "v")]),
        ("x=%C3%A9", [("x", "é")]),
        ("x=é", [("x", "é")]),
        // A separator that a combining mark follows still separates (one Character to Swift, two code points to everyone else).
        ("a=1&\u{301}b=2", [("a", "1"), ("\u{301}b", "2")]),
        ("a=\u{301}&b=2", [("a", "\u{301}"), ("b", "2")]),
        ("x=%2", nil),
        ("x=%zz", nil),
        ("x=%", nil),
        ("%G1=v", nil),
        ("x=%FF", nil),
        ("x=%C3", nil),
    ] as [(String, [(String, String)]?)])
    func parse(text: String, expected: [(String, String)]?) {
        let parsed = OAuthForm.parse(Substring(text))
        #expect(parsed?.map(\.name) == expected?.map(\.0))
        #expect(parsed?.map(\.value) == expected?.map(\.1))
        #expect((parsed == nil) == (expected == nil))
    }

    /// A field inside a longer text: the slice's own bounds, not the whole text's, are read.
    @Test func parsesASubstring() {
        let text = "ignored?a=1&b=%20"
        let query = text[text.index(after: text.firstIndex(of: "?")!)...]
        let parsed = OAuthForm.parse(query)
        #expect(parsed?.map(\.name) == ["a", "b"])
        #expect(parsed?.map(\.value) == ["1", " "])
        #expect(OAuthForm.decode(query.dropFirst(2).prefix(1)) == "1")
    }
}
