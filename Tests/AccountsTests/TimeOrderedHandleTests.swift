import Accounts
import Crypto
import Foundation
import Testing
import WebAuthn

/// Handles that begin with their time, and keys that keep their rows in that order; handles of the
/// earlier random-only form keep their plain SHA-256 key.
@Suite struct TimeOrderedHandleTests {
    static func sha256(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }

    @Test(arguments: [18, 24, 32])
    func aHandleIsItsTimeThenItsRandomBytes(randomCount: Int) throws {
        let now = Date(timeIntervalSince1970: 1_765_000_000.123)
        let (handle, madeKey) = TimeOrderedHandle.make(randomCount: randomCount, now: now, random: SystemRandomSource())
        let bytes = try #require(Base64URL.decode(handle))
        #expect(bytes.count == 6 + randomCount)
        // 1,765,000,000,123 ms = 0x019A_F232_B27B, big-endian.
        #expect(Array(bytes.prefix(6)) == [0x01, 0x9A, 0xF2, 0x32, 0xB2, 0x7B])
        #expect(TimeOrderedHandle.key(handle, randomCount: randomCount) == Array(bytes.prefix(6)) + Self.sha256(handle))
        #expect(madeKey == TimeOrderedHandle.key(handle, randomCount: randomCount))
        #expect(TimeOrderedHandle.hasLength(handle, randomCount: randomCount))
        // Two handles of the same millisecond differ in their random part, and so in their keys.
        let twin = TimeOrderedHandle.make(randomCount: randomCount, now: now, random: SystemRandomSource())
        #expect(twin.handle != handle)
        #expect(twin.key != madeKey)
    }

    /// A later handle's key sorts after an earlier one's (byte order, as SQLite and PostgreSQL compare
    /// blobs), whatever their random bytes.
    @Test func keysOfLaterHandlesSortAfter() {
        var previous: [UInt8] = []
        for step in 0..<200 {
            let now = Date(timeIntervalSince1970: 1_765_000_000 + Double(step) * 0.0137)
            let key = TimeOrderedHandle.make(randomCount: 32, now: now, random: SystemRandomSource()).key
            #expect(previous.lexicographicallyPrecedes(key))
            previous = key
        }
    }

    /// What is not a handle of this form is keyed by its SHA-256 alone: a handle made before it (so that
    /// it still finds its row), and anything else (which finds none).
    @Test(arguments: [
        Base64URL.encode(Array(repeating: 0xAB, count: 32)),  // the earlier form: 32 random bytes
        Base64URL.encode(Array(repeating: 0xAB, count: 37)),  // one byte short of the new form
        Base64URL.encode(Array(repeating: 0xAB, count: 39)),  // one byte over
        String(repeating: "*", count: 51),  // the new form's length, not base64url
        "",
    ])
    func otherHandlesAreKeyedByTheirHashAlone(_ handle: String) {
        #expect(TimeOrderedHandle.key(handle, randomCount: 32) == Self.sha256(handle))
    }

    @Test(arguments: [
        (Base64URL.encode(Array(repeating: 1, count: 32)), true),
        (Base64URL.encode(Array(repeating: 1, count: 38)), true),
        (Base64URL.encode(Array(repeating: 1, count: 31)), false),
        (Base64URL.encode(Array(repeating: 1, count: 39)), false),
        (String(repeating: "!", count: 43), false),
        ("", false),
    ])
    func sessionTokensOfEitherFormHaveTheirLength(_ token: String, _ accepted: Bool) {
        #expect(TimeOrderedHandle.hasLength(token, randomCount: 32) == accepted)
    }
}
