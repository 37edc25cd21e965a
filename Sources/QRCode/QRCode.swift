/// A QR code (ISO/IEC 18004:2015) for bytes: the smallest version (1 to 40) that holds them at the
/// chosen error-correction level, in byte mode, with the mask of lowest penalty (§7.8.3) unless one
/// is given. No dependencies, no I/O; the result is a square of modules to draw.
public struct QRCode: Sendable, Hashable {
    /// How much of the symbol may be damaged and still read (§7.5.1).
    public enum ErrorCorrection: Int, Sendable, CaseIterable {
        /// About 7 % of codewords recoverable.
        case low
        /// About 15 %.
        case medium
        /// About 25 %.
        case quartile
        /// About 30 %.
        case high

        /// The two format-information bits (§7.9.1, Table 12).
        var formatBits: Int { [1, 0, 3, 2][rawValue] }
    }

    /// Why bytes could not be encoded.
    public enum EncodingError: Error, Sendable, Equatable {
        /// More bytes than version 40 holds at this level.
        case tooLong(bytes: Int, maximum: Int)
        /// A mask outside 0...7.
        case badMask(Int)
    }

    /// The version, 1 to 40 (the symbol is `17 + 4 * version` modules wide).
    public let version: Int
    /// The mask pattern applied to the data, 0 to 7 (§7.8.2).
    public let mask: Int
    /// The error-correction level.
    public let errorCorrection: ErrorCorrection
    /// Modules per side.
    public let size: Int
    /// Row-major, `true` for dark; `size * size` entries.
    public let modules: [Bool]

    /// Whether the module in column `x`, row `y` is dark.
    public func isDark(x: Int, y: Int) -> Bool { modules[y * size + x] }

    /// Encodes `bytes` in byte mode.
    /// - Parameters:
    ///   - errorCorrection: the level; medium by default.
    ///   - mask: a fixed mask pattern, or `nil` for the one of lowest penalty.
    public static func encode(_ bytes: [UInt8], errorCorrection: ErrorCorrection = .medium, version fixedVersion: Int? = nil, mask: Int? = nil) throws(EncodingError) -> QRCode {
        if let mask, !(0...7).contains(mask) { throw .badMask(mask) }
        let level = errorCorrection.rawValue
        // Byte mode: a 4-bit mode indicator and an 8- or 16-bit count (Table 3), then the bytes.
        func bitsNeeded(_ version: Int) -> Int { 4 + (version <= 9 ? 8 : 16) + 8 * bytes.count }
        let candidates = fixedVersion.map { [$0] } ?? Array(1...40)
        guard let version = candidates.first(where: { (1...40).contains($0) && bitsNeeded($0) <= Tables.dataCodewords($0, level) * 8 }) else {
            let maximum = Tables.dataCodewords(fixedVersion ?? 40, level) - ((fixedVersion ?? 40) <= 9 ? 2 : 3)
            throw .tooLong(bytes: bytes.count, maximum: max(0, maximum))
        }
        let capacity = Tables.dataCodewords(version, level) * 8
        var bits = BitBuffer()
        bits.append(0b0100, count: 4)
        bits.append(bytes.count, count: version <= 9 ? 8 : 16)
        for byte in bytes { bits.append(Int(byte), count: 8) }
        // Terminator, then to a byte boundary, then the alternating pad codewords (§7.4.9, §7.4.10).
        bits.append(0, count: min(4, capacity - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var pad = 0xEC
        while bits.count < capacity {
            bits.append(pad, count: 8)
            pad ^= 0xEC ^ 0x11
        }
        let codewords = Tables.interleaved(bits.bytes, version: version, level: level)

        var matrix = Matrix(version: version)
        matrix.drawFunctionPatterns(level: errorCorrection)
        matrix.place(codewords)
        let chosen: Int
        if let mask {
            chosen = mask
        } else {
            var best = (mask: 0, penalty: Int.max)
            for candidate in 0..<8 {
                var trial = matrix
                trial.apply(mask: candidate)
                trial.drawFormat(level: errorCorrection, mask: candidate)
                let penalty = trial.penalty()
                if penalty < best.penalty { best = (candidate, penalty) }
            }
            chosen = best.mask
        }
        matrix.apply(mask: chosen)
        matrix.drawFormat(level: errorCorrection, mask: chosen)
        return QRCode(version: version, mask: chosen, errorCorrection: errorCorrection, size: matrix.size, modules: matrix.dark)
    }

    /// Encodes the UTF-8 of `text`.
    public static func encode(_ text: String, errorCorrection: ErrorCorrection = .medium) throws(EncodingError) -> QRCode {
        try encode(Array(text.utf8), errorCorrection: errorCorrection)
    }

    /// An SVG path (`d`) of the dark modules, one unit per module, origin at the symbol's corner:
    /// each horizontal run of dark modules is one rectangle.
    public var svgPath: String {
        var path = ""
        for y in 0..<size {
            var x = 0
            while x < size {
                guard isDark(x: x, y: y) else { x += 1; continue }
                let start = x
                while x < size && isDark(x: x, y: y) { x += 1 }
                path += "M\(start) \(y)h\(x - start)v1h-\(x - start)z"
            }
        }
        return path
    }

    /// A standalone SVG image with the four-module quiet zone the standard requires (§6.3.8).
    public var svg: String {
        let side = size + 8
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-4 -4 \(side) \(side)\" shape-rendering=\"crispEdges\">"
            + "<rect x=\"-4\" y=\"-4\" width=\"\(side)\" height=\"\(side)\" fill=\"#fff\"/><path fill=\"#000\" d=\"\(svgPath)\"/></svg>"
    }
}

/// Bits appended most significant first.
struct BitBuffer {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    mutating func append(_ value: Int, count length: Int) {
        guard length > 0 else { return }
        for shift in stride(from: length - 1, through: 0, by: -1) {
            if count % 8 == 0 { bytes.append(0) }
            if (value >> shift) & 1 == 1 { bytes[bytes.count - 1] |= UInt8(0x80 >> (count % 8)) }
            count += 1
        }
    }
}
