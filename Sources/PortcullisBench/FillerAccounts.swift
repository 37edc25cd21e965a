import Foundation
import SQLKit
import SQLStore

extension SQLAccountStore {
    /// Inserts `count` accounts with one passkey each (all sharing `publicKey`), in multi-row
    /// statements of 500 and transactions of 10,000: how `portcullis-bench login --preload` fills a
    /// database to a realistic size. Usernames are `PREFIX-N`; nothing else is written.
    public func insertFillerAccounts(count: Int, prefix: String, publicKey: [UInt8], now: Date) async throws {
        var next = 0
        while next < count {
            let end = min(count, next + 10_000)
            let first = next
            try await transaction { db in
                var row = first
                while row < end {
                    let stop = min(end, row + 500)
                    var users: [SQLQueryString] = []
                    var keys: [SQLQueryString] = []
                    for n in row..<stop {
                        let id = Self.id(UUID())
                        let handle = Self.data((0..<32).map { _ in UInt8.random(in: 0...255) })
                        let credential = Self.data((0..<16).map { _ in UInt8.random(in: 0...255) })
                        users.append("(\(bind: id), \(bind: "\(prefix)-\(n)"), \(bind: "Filler \(n)"), \(bind: handle), \(bind: Self.ms(now)), 0, 0)")
                        keys.append("""
                            (\(bind: credential), \(bind: id), \(bind: Self.data(publicKey)), -7, 0, '00000000-0000-0000-0000-000000000000', 'Filler',
                             'internal', 1, 1, 1, 'none', 0, \(bind: Self.ms(now)))
                            """)
                    }
                    try await db.raw("INSERT INTO users (id, username, display_name, handle, created_at, disabled, is_admin) VALUES \(users.joined(separator: ", "))").run()
                    try await db.raw("""
                        INSERT INTO passkeys (credential_id, user_id, public_key, algorithm, sign_count, aaguid, name, transports, backup_eligible,
                          backed_up, uv_initialized, attestation_format, attestation_trusted, created_at) VALUES \(keys.joined(separator: ", "))
                        """).run()
                    row = stop
                }
            }
            next = end
        }
    }
}
