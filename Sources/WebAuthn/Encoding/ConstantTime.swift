/// Comparison of secrets without an early exit on the first difference.
public enum ConstantTime {
    /// Whether `a` and `b` are equal, taking the same time for any two inputs of one length.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// The same for text, compared as UTF-8.
    public static func equal(_ a: String, _ b: String) -> Bool { equal(Array(a.utf8), Array(b.utf8)) }
}
