import Accounts
import Foundation
import PortcullisTesting
import PortcullisBench
import SQLStore
import Testing
import WebAuthn

/// `portcullis-bench login --preload` fills a database with accounts in bulk.
@Suite(.serialized) struct FillerAccountTests {
    @Test(arguments: StoreConformanceTests.kinds.filter { $0 != .memory })
    func fillerAccountsAreWholeAccounts(kind: StoreConformanceTests.Kind) async throws {
        try await StoreConformanceTests.withStore(kind) { store in
            let sql = try #require(store as? SQLAccountStore)
            let prefix = "filler-\(UUID().uuidString.prefix(6).lowercased())"
            let key = TestKey(.es256).coseBytes
            try await sql.insertFillerAccounts(count: 10_501, prefix: prefix, publicKey: key, now: FixedClock.now)
            let last = try #require(try await store.user(username: "\(prefix)-10500"))
            let passkeys = try await store.passkeys(userID: last.id)
            #expect(passkeys.count == 1 && passkeys.first?.publicKey == key)
            #expect(try await store.credential(id: try #require(passkeys.first).credentialID, now: FixedClock.now)?.user.id == last.id)
            #expect(try await store.user(username: "\(prefix)-10501") == nil)
        }
    }
}
