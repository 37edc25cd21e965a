import Crypto
import Foundation
import WebAuthn

/// A secret handle (a session token, an authorization code, a refresh token) whose stored key keeps
/// the rows of its table in the order they were made.
///
/// A handle is stored only as a key derived from it, so that a copy of the database yields no usable
/// handle. Were that key a plain SHA-256, every new row would land at a random page of the table's
/// key index, and each write would dirty (and log, and later copy back) a page of its own. Here a
/// handle begins with the time it was made, in milliseconds since 1970 (6 bytes, big-endian), followed
/// by the random bytes that make it secret; its key is those 6 time bytes followed by the SHA-256 of
/// the whole handle's text. New rows then join the end of the index, where the pages are few and in
/// cache. When a handle was made is no secret: its row records it, a session's owner sees it, and ID
/// tokens carry `iat`. The random part keeps its full length, so guessing one is as hard as before.
///
/// Handles made before this form (random bytes only) keep their plain SHA-256 key, so that they go
/// on working: ``key(_:randomCount:)`` tells the two forms apart by their length.
public enum TimeOrderedHandle {
    /// Bytes of time at the start of a handle.
    public static let timeBytes = 6

    /// A new handle made at `now` (its time, then `randomCount` bytes from `random`, base64url) and
    /// the key to store it under, the one ``key(_:randomCount:)`` gives for it.
    public static func make(randomCount: Int, now: Date, random: any RandomSource) -> (handle: String, key: [UInt8]) {
        let milliseconds = UInt64(max(0, (now.timeIntervalSince1970 * 1000).rounded(.down)))
        let time = (0..<timeBytes).map { UInt8(truncatingIfNeeded: milliseconds >> (8 * UInt64(timeBytes - 1 - $0))) }
        let handle = Base64URL.encode(time + random.bytes(randomCount))
        return (handle, time + SHA256.hash(data: Array(handle.utf8)))
    }

    /// The key `handle` is stored under, for handles of `randomCount` random bytes: its time bytes and
    /// the SHA-256 of its text when it has this form; the SHA-256 alone otherwise (a handle of the
    /// earlier, random-only form, or anything else, which then matches no stored row).
    public static func key(_ handle: String, randomCount: Int) -> [UInt8] {
        let digest = Array(SHA256.hash(data: Array(handle.utf8)))
        guard handle.utf8.count == encodedLength(timeBytes + randomCount), let bytes = Base64URL.decode(handle),
              bytes.count == timeBytes + randomCount
        else { return digest }
        return Array(bytes.prefix(timeBytes)) + digest
    }

    /// Whether `handle` is base64url of `randomCount` random bytes, with or without the time in front.
    public static func hasLength(_ handle: String, randomCount: Int) -> Bool {
        let length = handle.utf8.count
        guard length == encodedLength(randomCount) || length == encodedLength(timeBytes + randomCount),
              let bytes = Base64URL.decode(handle)
        else { return false }
        return bytes.count == randomCount || bytes.count == timeBytes + randomCount
    }

    /// The length of `count` bytes in unpadded base64url.
    static func encodedLength(_ count: Int) -> Int { (4 * count + 2) / 3 }
}
