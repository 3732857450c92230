//! Risk scoring: likelihood x impact on 1-5 scales (NIST SP 800-30 style,
//! seed 000), giving a score of 1-25 and a level.

use entity::RiskLevel;

use super::ValidationError;

pub const MIN_RATING: i32 = 1;
pub const MAX_RATING: i32 = 5;

/// Checks a likelihood or impact rating.
pub fn validate_rating(field: &str, value: i32) -> Result<(), ValidationError> {
    if (MIN_RATING..=MAX_RATING).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("must be between {MIN_RATING} and {MAX_RATING}, got {value}"),
        ))
    }
}

/// Risk score = likelihood x impact (1-25).
pub fn score(likelihood: i32, impact: i32) -> i32 {
    likelihood * impact
}

/// Level of a 1-25 score. The bands follow the common 5x5 heat map:
/// 1-4 low, 5-9 medium, 10-15 high, 16-25 critical.
pub fn level(score: i32) -> RiskLevel {
    match score {
        i32::MIN..=4 => RiskLevel::Low,
        5..=9 => RiskLevel::Medium,
        10..=15 => RiskLevel::High,
        _ => RiskLevel::Critical,
    }
}

/// The level that describes a change: residual risk when mitigations were
/// assessed, inherent risk otherwise.
pub fn effective_level(inherent_score: i32, residual_score: Option<i32>) -> RiskLevel {
    level(residual_score.unwrap_or(inherent_score))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_matrix_scores_the_product() {
        for likelihood in 1..=5 {
            for impact in 1..=5 {
                let value = score(likelihood, impact);
                assert_eq!(value, likelihood * impact);
                assert!((1..=25).contains(&value));
            }
        }
    }

    #[test]
    fn band_edges() {
        assert_eq!(level(1), RiskLevel::Low);
        assert_eq!(level(4), RiskLevel::Low);
        assert_eq!(level(5), RiskLevel::Medium);
        assert_eq!(level(9), RiskLevel::Medium);
        assert_eq!(level(10), RiskLevel::High);
        assert_eq!(level(15), RiskLevel::High);
        assert_eq!(level(16), RiskLevel::Critical);
        assert_eq!(level(25), RiskLevel::Critical);
    }

    #[test]
    fn residual_risk_wins_when_assessed() {
        assert_eq!(effective_level(20, Some(4)), RiskLevel::Low);
        assert_eq!(effective_level(20, None), RiskLevel::Critical);
    }

    #[test]
    fn ratings_outside_one_to_five_are_rejected() {
        assert!(validate_rating("likelihood", 0).is_err());
        assert!(validate_rating("likelihood", 6).is_err());
        assert!(validate_rating("likelihood", 1).is_ok());
        assert!(validate_rating("likelihood", 5).is_ok());
    }
}
