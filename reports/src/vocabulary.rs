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

/// Output column names (every output column is aliased to one of these).
pub mod out {
    pub const PERIOD: &str = "period";
    pub const LABEL: &str = "period_label";
    pub const START: &str = "period_start";
    pub const END: &str = "period_end";
    pub const KEY: &str = "key";
    pub const COUNT: &str = "count";

    pub const IMPLEMENTED: &str = "implemented";
    pub const SUCCESSFUL: &str = "successful";
    pub const SUCCESSFUL_WITH_ISSUES: &str = "successful_with_issues";
    pub const FAILED: &str = "failed";
    pub const ROLLED_BACK: &str = "rolled_back";
    pub const EMERGENCY: &str = "emergency";
    pub const WITH_ISSUES: &str = "with_issues";
    pub const SUCCESS_RATE: &str = "success_rate";
    pub const ROLLBACK_RATE: &str = "rollback_rate";
    pub const FAILURE_RATE: &str = "failure_rate";
    pub const EMERGENCY_SHARE: &str = "emergency_share";
    pub const WITH_ISSUES_RATE: &str = "with_issues_rate";

    pub const LEAD_TIME_P50: &str = "lead_time_hours_p50";
    pub const LEAD_TIME_P90: &str = "lead_time_hours_p90";
    pub const LEAD_TIME_MEAN: &str = "lead_time_hours_mean";

    pub const DURATION_MEAN: &str = "change_duration_hours_mean";
    pub const DURATION_P50: &str = "change_duration_hours_p50";
    pub const PLANNED_MEAN: &str = "planned_duration_hours_mean";
    pub const PLANNED_P50: &str = "planned_duration_hours_p50";

    pub const APPROVAL_P50: &str = "approval_time_hours_p50";
    pub const APPROVAL_MEAN: &str = "approval_time_hours_mean";

    pub const CAB_APPROVED: &str = "cab_approved";
    pub const CAB_REJECTED: &str = "cab_rejected";
    pub const CAB_APPROVAL_RATE: &str = "cab_approval_rate";

    pub const EMERGENCY_DOCS_ON_TIME: &str = "emergency_docs_on_time";
    pub const EMERGENCY_DOCS_RATE: &str = "emergency_docs_on_time_rate";

    /// Counts that are 0, not null, in a period without changes.
    pub const COUNTS: [&str; 10] = [
        IMPLEMENTED,
        SUCCESSFUL,
        SUCCESSFUL_WITH_ISSUES,
        FAILED,
        ROLLED_BACK,
        EMERGENCY,
        WITH_ISSUES,
        CAB_APPROVED,
        CAB_REJECTED,
        EMERGENCY_DOCS_ON_TIME,
    ];
}
