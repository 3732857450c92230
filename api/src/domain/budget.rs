//! A cooperative time budget for CPU-bound work. Long loops call
//! [`Deadline::check`] and stop with [`OutOfTime`] once the budget is
//! spent, so a heavy request frees its thread instead of running on after
//! its caller has been told it took too long.

use std::time::{Duration, Instant};

/// The instant a computation must give up by; `unbounded` for callers that
/// may run as long as they need (CLI, tests).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

/// The budget ran out before the work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfTime;

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now().checked_add(budget))
    }

    pub fn unbounded() -> Self {
        Self(None)
    }

    /// Cheap enough to call once per loop step (one clock read).
    pub fn check(&self) -> Result<(), OutOfTime> {
        match self.0 {
            Some(at) if Instant::now() >= at => Err(OutOfTime),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_stops_the_work_and_an_unbounded_one_never_does() {
        assert_eq!(Deadline::after(Duration::ZERO).check(), Err(OutOfTime));
        assert_eq!(Deadline::after(Duration::from_secs(3600)).check(), Ok(()));
        assert_eq!(Deadline::unbounded().check(), Ok(()));
    }
}
