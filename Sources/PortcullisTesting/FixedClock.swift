import Foundation

/// Fixed instants for tests, so nothing depends on the wall clock.
public enum FixedClock {
    /// The instant most fixtures are verified at: 2026-01-01T00:00:00Z.
    public static let now = Date(timeIntervalSince1970: 1_767_225_600)
    /// When test certificates start being valid: 2024-01-01T00:00:00Z.
    public static let certificatesValidFrom = Date(timeIntervalSince1970: 1_704_067_200)
    /// When test certificates stop being valid: 2036-01-01T00:00:00Z.
    public static let certificatesValidUntil = Date(timeIntervalSince1970: 2_082_758_400)
}
