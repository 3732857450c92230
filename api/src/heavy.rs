//! Heavy work off the async workers: CPU-bound computations (calendar
//! expansion, metrics, report rendering, audit verification) run on
//! tokio's blocking pool with a time budget, so one heavy request leaves
//! `/healthz` and every other user's requests to the runtime's workers.
//!
//! The budget binds twice: the caller is answered `TIMEOUT` when it is
//! spent (`tokio::time::timeout`), and the work itself gets a [`Deadline`]
//! to check in its loops so that it stops too instead of holding a core.
//! Work that cannot look at a deadline (polars) still answers on time; its
//! thread finishes on its own.

use std::time::Duration;

use crate::{domain::budget::Deadline, error::ServiceError, error::ServiceResult};

/// Calendar views, slot suggestions and slot checks: bounded expansion
/// takes milliseconds; a second is already far beyond any honest request.
/// Scheduling checks its slot inside its transaction, which on SQLite
/// holds the one connection: the budget stays well under the pool's 5 s
/// acquire timeout, so a slow check never turns other users' requests
/// into 503s.
pub const CALENDAR: Duration = Duration::from_secs(2);

/// Metrics, reports and the iCalendar feed over years of history.
pub const REPORTS: Duration = Duration::from_secs(60);

/// Verifying the whole audit chain: generous, because the chain only
/// grows; the rate it hashes at is in docs/benchmarks.md.
pub const AUDIT_VERIFY: Duration = Duration::from_secs(600);

/// Runs `work` on the blocking pool and answers its result, or
/// [`ServiceError::Timeout`] once `budget` is spent.
pub async fn run<T: Send + 'static>(
    budget: Duration,
    work: impl FnOnce(Deadline) -> ServiceResult<T> + Send + 'static,
) -> ServiceResult<T> {
    let deadline = Deadline::after(budget);
    let task = tokio::task::spawn_blocking(move || work(deadline));
    match tokio::time::timeout(budget, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(failed)) => Err(ServiceError::internal_from("heavy task failed", failed)),
        Err(_) => {
            tracing::warn!(
                budget_ms = budget.as_millis() as u64,
                "heavy task ran past its budget"
            );
            Err(ServiceError::Timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_its_budget_answers_timeout_and_is_told_to_stop() {
        let (stopped, seen) = std::sync::mpsc::channel();
        let result = run(Duration::from_millis(50), move |deadline| {
            // Spins until the deadline says stop, as expansion loops do.
            let out_of_time = loop {
                if let Err(out_of_time) = deadline.check() {
                    break out_of_time;
                }
                std::hint::spin_loop();
            };
            let _ = stopped.send(());
            Err::<(), _>(out_of_time.into())
        })
        .await;
        assert!(matches!(result, Err(ServiceError::Timeout)), "{result:?}");
        seen.recv_timeout(Duration::from_secs(60))
            .expect("the work saw its deadline and stopped");
        assert_eq!(run(CALENDAR, |_| Ok(7)).await.unwrap(), 7);
    }
}
