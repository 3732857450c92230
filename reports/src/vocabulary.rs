//! The words the other modules share and none of them owns: the codes of
//! the coded input columns (outcomes, board decisions) and the names of
//! the output columns. It imports no other module of the crate, so
//! `input`, `metrics`, `targets` and the renderers can all read it without
//! importing one another.

/// Codes of the `outcome` column: small integers instead of strings, so the
/// metrics compare and group integers over a million rows (a string
/// comparison per row and outcome cost more than the rest of a metric).
pub mod outcome {
    pub const SUCCESSFUL: u32 = 0;
    pub const SUCCESSFUL_WITH_ISSUES: u32 = 1;
    pub const FAILED: u32 = 2;
    pub const ROLLED_BACK: u32 = 3;
    /// The outcome names, indexed by code.
    pub const NAMES: [&str; 4] = [
        "SUCCESSFUL",
        "SUCCESSFUL_WITH_ISSUES",
        "FAILED",
        "ROLLED_BACK",
    ];

    /// The name of an outcome code.
    pub const fn name(code: u32) -> &'static str {
        NAMES[code as usize]
    }

    /// The code of an implemented outcome; `None` for anything else (the
    /// change then counts as not implemented, as before the codes).
    pub fn code(name: &str) -> Option<u32> {
        NAMES.iter().position(|n| *n == name).map(|i| i as u32)
    }
}

/// Codes of the board decisions frame's `board_outcome` column.
pub mod board_outcome {
    pub const APPROVED: u32 = 0;
    pub const REJECTED: u32 = 1;
    /// Deferred (or anything else): not a decision for the approval rate.
    pub const OTHER: u32 = 2;

    pub fn code(name: &str) -> u32 {
        match name {
            "APPROVED" => APPROVED,
            "REJECTED" => REJECTED,
            _ => OTHER,
        }
    }
}

/// Names of the output columns that are not metrics (the metrics' are in
/// the catalogue): the period columns of the metrics table and the columns
/// of the volume tables.
pub mod out {
    pub const PERIOD: &str = "period";
    pub const LABEL: &str = "period_label";
    pub const START: &str = "period_start";
    pub const END: &str = "period_end";
    pub const KEY: &str = "key";
    pub const COUNT: &str = "count";
}
