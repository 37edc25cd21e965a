/// The module grid while a symbol is built: which modules are dark, and which belong to function
/// patterns (finders, separators, timing, alignment, format and version information), which data
/// placement and masking skip.
struct Matrix {
    let version: Int
    let size: Int
    var dark: [Bool]
    var function: [Bool]

    init(version: Int) {
        self.version = version
        size = 17 + 4 * version
        dark = Array(repeating: false, count: size * size)
        function = Array(repeating: false, count: size * size)
    }

    subscript(x: Int, y: Int) -> Bool {
        get { dark[y * size + x] }
        set { dark[y * size + x] = newValue }
    }

    mutating func setFunction(_ x: Int, _ y: Int, _ isDark: Bool) {
        self[x, y] = isDark
        function[y * size + x] = true
    }

    /// Finders with separators (§6.3.3), timing (§6.3.5), alignment (§6.3.6, Annex E), version
    /// information (§7.10), and the format areas reserved until the mask is known.
    mutating func drawFunctionPatterns(level: QRCode.ErrorCorrection) {
        for index in 0..<size {
            setFunction(6, index, index % 2 == 0)
            setFunction(index, 6, index % 2 == 0)
        }
        for (x, y) in [(3, 3), (size - 4, 3), (3, size - 4)] {
            for dy in -4...4 {
                for dx in -4...4 where (0..<size).contains(x + dx) && (0..<size).contains(y + dy) {
                    let ring = max(abs(dx), abs(dy))
                    setFunction(x + dx, y + dy, ring != 2 && ring != 4)
                }
            }
        }
        let centres = alignmentCentres
        for (i, y) in centres.enumerated() {
            for (j, x) in centres.enumerated() {
                // Not where a finder sits (top-left, top-right, bottom-left).
                if (i == 0 && j == 0) || (i == 0 && j == centres.count - 1) || (i == centres.count - 1 && j == 0) { continue }
                for dy in -2...2 {
                    for dx in -2...2 { setFunction(x + dx, y + dy, max(abs(dx), abs(dy)) != 1) }
                }
            }
        }
        drawFormat(level: level, mask: 0)
        if version >= 7 {
            var remainder = version
            for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
            let bits = version << 12 | remainder
            for index in 0..<18 {
                let bit = (bits >> index) & 1 == 1
                let a = size - 11 + index % 3, b = index / 3
                setFunction(a, b, bit)
                setFunction(b, a, bit)
            }
        }
    }

    /// Row and column of the alignment patterns' centres (Annex E): 6, then evenly spaced to size - 7.
    var alignmentCentres: [Int] {
        guard version > 1 else { return [] }
        let count = version / 7 + 2
        let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
        var centres = [6]
        for index in 0..<(count - 1) { centres.insert(size - 7 - index * step, at: 1) }
        return centres
    }

    /// The format information, twice: level and mask with a BCH(15,5) code, masked by 0x5412 (§7.9).
    mutating func drawFormat(level: QRCode.ErrorCorrection, mask: Int) {
        let data = level.formatBits << 3 | mask
        var remainder = data
        for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
        let bits = (data << 10 | remainder) ^ 0x5412
        func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
        for index in 0...5 { setFunction(8, index, bit(index)) }
        setFunction(8, 7, bit(6))
        setFunction(8, 8, bit(7))
        setFunction(7, 8, bit(8))
        for index in 9..<15 { setFunction(14 - index, 8, bit(index)) }
        for index in 0..<8 { setFunction(size - 1 - index, 8, bit(index)) }
        for index in 8..<15 { setFunction(8, size - 15 + index, bit(index)) }
        setFunction(8, size - 8, true)  // the dark module
    }

    /// The codewords in two-module columns from the bottom right, upwards then downwards, skipping
    /// the vertical timing pattern and every function module (§7.7.3); leftover modules stay light.
    mutating func place(_ codewords: [UInt8]) {
        var bitIndex = 0
        let total = codewords.count * 8
        var right = size - 1
        while right >= 1 {
            if right == 6 { right = 5 }
            let upward = (right + 1) & 2 == 0
            for step in 0..<size {
                let y = upward ? size - 1 - step : step
                for x in [right, right - 1] where !function[y * size + x] && bitIndex < total {
                    self[x, y] = (codewords[bitIndex >> 3] >> UInt8(7 - (bitIndex & 7))) & 1 == 1
                    bitIndex += 1
                }
            }
            right -= 2
        }
    }

    /// Inverts the data modules where mask pattern `mask` holds (§7.8.2, Table 10); applying it
    /// twice undoes it.
    mutating func apply(mask: Int) {
        for y in 0..<size {
            for x in 0..<size where !function[y * size + x] {
                let invert: Bool
                switch mask {
                case 0: invert = (x + y) % 2 == 0
                case 1: invert = y % 2 == 0
                case 2: invert = x % 3 == 0
                case 3: invert = (x + y) % 3 == 0
                case 4: invert = (x / 3 + y / 2) % 2 == 0
                case 5: invert = x * y % 2 + x * y % 3 == 0
                case 6: invert = (x * y % 2 + x * y % 3) % 2 == 0
                default: invert = ((x + y) % 2 + x * y % 3) % 2 == 0
                }
                if invert { self[x, y].toggle() }
            }
        }
    }

    /// The penalty of §7.8.3 (Table 11): runs of five or more, 2x2 blocks, finder-like patterns
    /// 1:1:3:1:1 with four light modules on one side, and the imbalance of dark and light.
    func penalty() -> Int {
        var score = 0
        for horizontal in [true, false] {
            for line in 0..<size {
                let modules = (0..<size).map { horizontal ? self[$0, line] : self[line, $0] }
                var run = 1
                for index in 1...modules.count {
                    if index < modules.count && modules[index] == modules[index - 1] {
                        run += 1
                        continue
                    }
                    if run >= 5 { score += 3 + run - 5 }
                    run = 1
                }
                score += 40 * finderLikePatterns(modules)
            }
        }
        for y in 0..<(size - 1) {
            for x in 0..<(size - 1) {
                let colour = self[x, y]
                if self[x + 1, y] == colour && self[x, y + 1] == colour && self[x + 1, y + 1] == colour { score += 3 }
            }
        }
        let darkCount = dark.lazy.filter { $0 }.count
        let total = size * size
        // Ten points for each full 5 % the dark share is away from 50 %.
        let steps = (abs(darkCount * 20 - total * 10) + total - 1) / total - 1
        score += max(0, steps) * 10
        return score
    }

    /// Counts dark-light-dark(3)-light-dark runs in the ratio 1:1:3:1:1 with at least four light
    /// modules (or the symbol's edge, which the quiet zone makes light) before or after them.
    private func finderLikePatterns(_ modules: [Bool]) -> Int {
        let pattern: [Bool] = [true, false, true, true, true, false, true]
        var count = 0
        guard modules.count >= 7 else { return 0 }
        for start in 0...(modules.count - 7) where Array(modules[start..<start + 7]) == pattern {
            func lightRun(_ range: some Sequence<Int>) -> Bool {
                for index in range {
                    guard (0..<modules.count).contains(index) else { return true }
                    if modules[index] { return false }
                }
                return true
            }
            if lightRun((start - 4)..<start) || lightRun((start + 7)..<(start + 11)) { count += 1 }
        }
        return count
    }
}
