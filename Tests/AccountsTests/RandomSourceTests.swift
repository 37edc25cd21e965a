import Accounts
import Foundation
import Testing

@Suite struct RandomSourceTests {
    @Test(arguments: [0, 1, 7, 8, 9, 16, 32, 33, 1024, 1025, 5000])
    func systemRandomGivesTheAskedLength(count: Int) {
        let source = SystemRandomSource()
        #expect(source.bytes(count).count == count)
        // Two draws of 16 bytes or more colliding would mean the generator is broken.
        if count >= 16 { #expect(source.bytes(count) != source.bytes(count)) }
    }

    /// Draws that cross the pool's 4 KiB refills never repeat a block and never hand out the wiped
    /// (zeroed) bytes.
    @Test func poolDrawsAcrossRefillsAreDistinct() {
        let source = SystemRandomSource()
        var seen = Set<[UInt8]>()
        for _ in 0..<2000 {
            let draw = source.bytes(24)
            #expect(draw != [UInt8](repeating: 0, count: 24))
            seen.insert(draw)
        }
        #expect(seen.count == 2000)
    }

    struct Counting: RandomSource {
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(0xF0 | ($0 & 0x0F)) } }
    }

    /// RFC 9562 §5.4: version 4 in the high nibble of octet 6, variant 10 in the top bits of octet 8;
    /// every other bit comes from the source.
    @Test func uuidCarriesVersionAndVariant() {
        let id = Counting().uuid()
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        #expect(bytes[6] == 0x46)
        #expect(bytes[8] == 0xB8)
        #expect(bytes[0] == 0xF0 && bytes[15] == 0xFF)
        #expect(id.uuidString.lowercased() == "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff")
        let system = SystemRandomSource().uuid()
        #expect(system.uuidString.dropFirst(14).first == "4")
        #expect(system != SystemRandomSource().uuid())
    }

    /// RFC 9562 §5.7 and its test vector (appendix A.6): 2022-02-22 19:22:22 UTC is 0x017F22E279B0 ms.
    @Test func timeOrderedUUIDsCarryTheirMillisecondAndSortByIt() {
        let date = Date(timeIntervalSince1970: 1_645_557_742)
        let id = Counting().timeOrderedUUID(at: date)
        #expect(id.uuidString.lowercased() == "017f22e2-79b0-76f7-b8f9-fafbfcfdfeff")
        let earlier = SystemRandomSource().timeOrderedUUID(at: date)
        let later = SystemRandomSource().timeOrderedUUID(at: date.addingTimeInterval(0.002))
        #expect(earlier.uuidString.lowercased().hasPrefix("017f22e2-79b0-7"))
        #expect(earlier.uuidString < later.uuidString)
    }
}
