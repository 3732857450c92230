//! The audit hash chain: every write's event recorded in the write's own
//! transaction, sealed into one chain, read, verified and trimmed by
//! retention. One file per job.

pub mod chain;
pub mod read;
pub mod record;
pub mod retention;
pub mod seal;
pub mod verify;
pub mod write;

pub use chain::{data_generation, head, last_write_at};
pub use read::{EventFilter, list, snapshot};
pub use record::{POLICY_VERSION_FIELD, Recording, append, recording, under_policy};
pub use retention::{PURGE_ACTION, PurgeOutcome, purge};
pub use seal::{commit, seal, seal_before_reading, spawn_sealer};
pub use verify::{Verification, verify};
pub use write::{Event, write};
