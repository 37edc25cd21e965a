import Accounts
import Testing

@Suite struct RandomSourceTests {
    @Test(arguments: [0, 1, 7, 8, 9, 16, 32, 33])
    func systemRandomGivesTheAskedLength(count: Int) {
        let source = SystemRandomSource()
        #expect(source.bytes(count).count == count)
        // Two 32-byte draws colliding would mean the generator is broken.
        if count >= 16 { #expect(source.bytes(count) != source.bytes(count)) }
    }
}
