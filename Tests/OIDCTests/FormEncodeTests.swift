import Foundation
@testable import OIDC
import Testing

/// `formEncode` against hand-worked encodings: unreserved characters (RFC 3986 §2.3) stay, every other
/// byte of the UTF-8 form becomes `%XX` in upper-case hexadecimal, and Foundation's decoding gives the
/// text back.
struct FormEncodeTests {
    @Test(arguments: [
        ("", ""),
        ("AZaz09-._~", "AZaz09-._~"),
        ("a b", "a%20b"),
        ("https://app.example/cb?x=1&y=2", "https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2"),
        ("+%/", "%2B%25%2F"),
        ("\u{0}\u{1F}\u{7F}", "%00%1F%7F"),
        ("é", "%C3%A9"),
        ("\u{1F511}", "%F0%9F%94%91"),
    ])
    func encodes(text: String, expected: String) {
        #expect(formEncode(text) == expected)
        #expect(formEncode(text).removingPercentEncoding == text)
    }
}
