import Foundation
import SQLiteNIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Backing up and restoring the embedded database file: what `portcullis backup` and `restore` do.
public enum SQLiteFiles {
    /// Why a backup or a restore was refused. Nothing was changed.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// A consistent copy of the database at `databasePath`, written to `target` (a new file, mode
    /// 0600), while the server may be running: `VACUUM INTO` reads one snapshot of the database (a
    /// read transaction, which WAL runs beside the writer) and writes it out compacted. Every commit
    /// acknowledged before the copy's read began is in it; none after it, and no half of one. The
    /// copy is then checked (`PRAGMA integrity_check`); a copy that fails it is deleted.
    /// - Returns: the schema version the copy holds.
    @discardableResult
    public static func backup(databasePath: String, to target: String) throws -> Int64 {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw Refusal(description: "there is no database at \(databasePath)")
        }
        // VACUUM INTO writes only into a file that does not exist or is empty: made here first, empty,
        // readable by its owner only, and never over an existing file.
        let descriptor = open(target, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard descriptor >= 0 else {
            throw Refusal(description: errno == EEXIST ? "\(target) exists; a backup never overwrites a file" : "cannot create \(target): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        do {
            let source = try DirectSQLiteConnection(path: databasePath, readOnly: true)
            defer { source.close() }
            try source.execute("VACUUM INTO ?", [target]) { _ in }
            return try check(target)
        } catch {
            unlink(target)
            if let refusal = error as? Refusal { throw refusal }
            throw Refusal(description: "the backup failed: \(error)")
        }
    }

    /// Puts the backup `source` in place as the database at `databasePath`, for a server that is not
    /// running. The backup is checked first (integrity, and a schema this build knows). An existing
    /// database is replaced only with `force`, and only when no process has it open; it is replaced by
    /// a rename, so a crash leaves either the old database or the new one. The old database's WAL and
    /// shared-memory files are removed, so none of its pages can be laid over the restored one.
    /// - Returns: the schema version the restored database holds.
    @discardableResult
    public static func restore(from source: String, to databasePath: String, force: Bool) throws -> Int64 {
        guard FileManager.default.fileExists(atPath: source) else { throw Refusal(description: "there is no file \(source)") }
        let version = try check(source)
        if FileManager.default.fileExists(atPath: databasePath) {
            guard force else {
                throw Refusal(description: "\(databasePath) exists; restore replaces it only with --force (stop the server first)")
            }
            try ensureClosed(databasePath)
        }
        let staging = databasePath + ".restoring"
        unlink(staging)
        guard let bytes = FileManager.default.contents(atPath: source) else { throw Refusal(description: "cannot read \(source)") }
        let descriptor = open(staging, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard descriptor >= 0 else { throw Refusal(description: "cannot create \(staging): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { buffer -> Bool in
            guard let base = buffer.baseAddress else { return fsync(descriptor) == 0 }
            var offset = 0
            while offset < buffer.count {
                let count = write(descriptor, base + offset, buffer.count - offset)
                if count <= 0 { return false }
                offset += count
            }
            return fsync(descriptor) == 0
        }
        close(descriptor)
        guard written else {
            unlink(staging)
            throw Refusal(description: "cannot write \(staging): \(String(cString: strerror(errno)))")
        }
        unlink(databasePath + "-wal")
        unlink(databasePath + "-shm")
        guard rename(staging, databasePath) == 0 else {
            unlink(staging)
            throw Refusal(description: "cannot move the restored database into place: \(String(cString: strerror(errno)))")
        }
        return version
    }

    /// Checks that `path` is a whole Portcullis database: SQLite's integrity check passes, and its
    /// schema version is one this build knows. - Returns: that version.
    static func check(_ path: String) throws -> Int64 {
        let connection: DirectSQLiteConnection
        do { connection = try DirectSQLiteConnection(path: path, readOnly: true) } catch {
            throw Refusal(description: "\(path) is not a database: \(error)")
        }
        defer { connection.close() }
        var verdicts: [String] = []
        do {
            try connection.execute("PRAGMA integrity_check", []) { row in
                if case .text(let text)? = row.values.first { verdicts.append(text) }
            }
        } catch {
            throw Refusal(description: "\(path) is not a database: \(error)")
        }
        guard verdicts == ["ok"] else {
            throw Refusal(description: "\(path) fails SQLite's integrity check: \(verdicts.prefix(3).joined(separator: "; "))")
        }
        var version: Int64?
        do {
            try connection.execute("SELECT MAX(version) AS version FROM schema_migrations", []) { row in
                if case .integer(let value)? = row.values.first { version = value }
            }
        } catch {
            throw Refusal(description: "\(path) is not a Portcullis database (no schema_migrations table)")
        }
        let known = Migrations.all(binary: "BLOB", sqlite: true).map(\.version).max() ?? 0
        guard let version else { throw Refusal(description: "\(path) is not a Portcullis database (no migration applied)") }
        guard version <= known else {
            throw Refusal(description: "\(path) holds schema version \(version), newer than this build's \(known); restore it with a newer portcullis")
        }
        return version
    }

    /// Refuses when another process has the database open: an exclusive lock, taken and released
    /// at once, cannot be had while any other connection (a running server's) holds the file.
    static func ensureClosed(_ path: String) throws {
        let connection: DirectSQLiteConnection
        do { connection = try DirectSQLiteConnection(path: path, readOnly: false) } catch {
            throw Refusal(description: "cannot open \(path): \(error)")
        }
        defer { connection.close() }
        connection.busyTimeout(milliseconds: 0)
        do {
            try connection.execute("PRAGMA locking_mode = EXCLUSIVE", []) { _ in }
            try connection.execute("BEGIN EXCLUSIVE", []) { _ in }
            try connection.execute("COMMIT", []) { _ in }
        } catch {
            throw Refusal(description: "\(path) is in use (is the server still running?); stop it before restoring")
        }
    }
}
