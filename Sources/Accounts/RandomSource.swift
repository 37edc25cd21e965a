import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where random bytes come from. Injected, so tests are deterministic where they need to be.
public protocol RandomSource: Sendable {
    /// `count` random bytes.
    func bytes(_ count: Int) -> [UInt8]
}

extension RandomSource {
    /// A random (version 4) UUID drawn from this source, RFC 9562 §5.4: 122 random bits, the version
    /// nibble 0100 and the variant bits 10.
    public func uuid() -> UUID {
        stamped(bytes(16), version: 4)
    }

    /// A time-ordered (version 7) UUID for `date`, RFC 9562 §5.7: the Unix time in milliseconds in the
    /// first 48 bits, then the version, 74 random bits and the variant. Rows keyed by such IDs are
    /// appended at the end of their index instead of at a random place in it, which keeps the pages
    /// a write touches few and in cache. Only for records whose creation time is no secret (sessions
    /// and events carry it in the clear anyway).
    public func timeOrderedUUID(at date: Date) -> UUID {
        var b = bytes(16)
        let milliseconds = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down)))
        for index in 0..<min(6, b.count) { b[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - UInt64(index)))) }
        return stamped(b, version: 7)
    }

    /// 16 bytes with RFC 9562's version nibble (octet 6) and variant bits 10 (octet 8) set; a source
    /// that gave fewer bytes gets Foundation's random UUID instead.
    private func stamped(_ bytes: [UInt8], version: UInt8) -> UUID {
        guard bytes.count == 16 else { return UUID() }
        var b = bytes
        b[6] = (b[6] & 0x0F) | (version << 4)
        b[8] = (b[8] & 0x3F) | 0x80
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

/// The operating system's cryptographically secure generator (the kernel's, read from
/// `/dev/urandom`), drawn 4 KiB at a time into a process-wide pool. A sign-in needs about 100 random
/// bytes; reading them a few at a time cost a system call per 8 bytes, and Foundation's `UUID()`
/// opened, read and closed `/dev/urandom` for every identifier. Bytes are handed out once and wiped
/// from the pool as they leave it.
public struct SystemRandomSource: RandomSource {
    public init() {}
    public func bytes(_ count: Int) -> [UInt8] { RandomPool.shared.take(count) }
}

/// The pool behind ``SystemRandomSource``.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private static let size = 4096
    private let state = Mutex<(buffer: [UInt8], used: Int)>(([], RandomPool.size))
    /// `/dev/urandom`, kept open; -1 when it cannot be opened (then the standard library's generator).
    private let device: Int32

    private init() {
        device = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    }

    func take(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        if count > Self.size / 4 { return fresh(count) }
        return state.withLock { state in
            if Self.size - state.used < count {
                state.buffer = fresh(Self.size)
                state.used = 0
            }
            let range = state.used..<(state.used + count)
            let out = Array(state.buffer[range])
            for index in range { state.buffer[index] = 0 }
            state.used += count
            return out
        }
    }

    /// `count` bytes straight from the kernel.
    private func fresh(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        if device >= 0 {
            out.withUnsafeMutableBytes { buffer in
                while filled < count {
                    let n = read(device, buffer.baseAddress! + filled, count - filled)
                    if n > 0 {
                        filled += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
            }
        }
        if filled < count {
            // The device failed: the standard library's generator, which traps rather than return
            // anything predictable.
            var generator = SystemRandomNumberGenerator()
            for index in filled..<count { out[index] = generator.next() }
        }
        return out
    }
}
