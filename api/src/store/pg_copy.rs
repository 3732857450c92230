//! PostgreSQL's binary `COPY` format
//! (<https://www.postgresql.org/docs/current/sql-copy.html>, "Binary
//! Format"): a header, then per row a field count and each field as a
//! length (-1 for NULL) and the value in its binary send format.
//!
//! Read by the metrics loader (`service::metrics`), the one path that
//! reads a million rows.

use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use sea_orm::{
    sea_query::Expr,
    sqlx::{PgPool, Postgres, pool::PoolConnection},
};

use crate::error::{ServiceError, ServiceResult};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const MAX_COLUMNS: usize = 16;
/// Microseconds from 1970-01-01 (Unix) to 2000-01-01 (PostgreSQL's
/// epoch for timestamps).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

pub fn malformed(what: &str) -> ServiceError {
    ServiceError::internal_from("reading the metrics input", what)
}

/// The range a `COPY` statement reads, bound as parameters to two
/// settings of its connection (`COPY` itself takes none).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    /// `current_setting` is stable, so the planner evaluates it once
    /// and still uses the index on the column compared with it.
    pub fn from_setting() -> Expr {
        Expr::cust("current_setting('gatehouse.copy_from')::timestamptz")
    }

    pub fn to_setting() -> Expr {
        Expr::cust("current_setting('gatehouse.copy_to')::timestamptz")
    }
}

/// A connection checked out for one `COPY`. Unless the statement ran to
/// its end (`CopyDone`, `CommandComplete`, `ReadyForQuery` read), it is
/// closed instead of returned to the pool: a `COPY` that failed, or
/// whose reader stopped early or was cancelled, can leave messages
/// unread on the socket, and the next request given that connection
/// would read them as its own answers.
struct Checkout {
    connection: PoolConnection<Postgres>,
    clean: bool,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if !self.clean {
            self.connection.close_on_drop();
        }
    }
}

/// Runs `COPY (select) TO STDOUT (FORMAT binary)` and calls `row` with
/// the `columns` fields of each row, as they arrive. With a `range`,
/// `select` reads it through [`Range::from_setting`] and
/// [`Range::to_setting`].
pub async fn rows(
    pool: &PgPool,
    select: &str,
    range: Option<Range>,
    columns: usize,
    mut row: impl FnMut(&[Option<&[u8]>]) -> ServiceResult<()>,
) -> ServiceResult<()> {
    let statement = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let sql_error = |error: sea_orm::sqlx::Error| {
        ServiceError::internal_from("loading the metrics input", error)
    };
    if columns > MAX_COLUMNS {
        return Err(malformed("too many columns"));
    }
    let mut checkout = Checkout {
        connection: pool.acquire().await.map_err(sql_error)?,
        clean: false,
    };
    if let Some(range) = range {
        let instant = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
        sea_orm::sqlx::query(
            "SELECT set_config('gatehouse.copy_from', $1, false), \
             set_config('gatehouse.copy_to', $2, false)",
        )
        .bind(instant(range.from))
        .bind(instant(range.to))
        .execute(&mut *checkout.connection)
        .await
        .map_err(sql_error)?;
    }
    let mut stream = checkout
        .connection
        .copy_out_raw(&statement)
        .await
        .map_err(sql_error)?;
    // Bytes received but not yet parsed (a row may span chunks).
    let mut pending: Vec<u8> = Vec::new();
    let mut header_read = false;
    let mut ranges: Vec<Option<(usize, usize)>> = Vec::with_capacity(columns);
    let mut finished = false;
    while let Some(chunk) = stream.try_next().await.map_err(sql_error)? {
        pending.extend_from_slice(&chunk);
        let mut at = 0;
        if !header_read {
            // Signature, flags (4 bytes), extension length and area.
            let Some(extension) = read_i32(&pending, SIGNATURE.len() + 4) else {
                continue;
            };
            if !pending.starts_with(SIGNATURE) {
                return Err(malformed("not binary COPY output"));
            }
            let header = SIGNATURE.len() + 8 + usize::try_from(extension).unwrap_or(0);
            if pending.len() < header {
                continue;
            }
            at = header;
            header_read = true;
        }
        while let Some(count) = read_i16(&pending, at) {
            if count == -1 {
                finished = true;
                at = pending.len();
                break;
            }
            if usize::try_from(count).ok() != Some(columns) {
                return Err(malformed("unexpected field count"));
            }
            // The row's fields, or `None` when the row is incomplete.
            let mut cursor = at + 2;
            ranges.clear();
            let complete = (0..columns).all(|_| match read_i32(&pending, cursor) {
                Some(-1) => {
                    ranges.push(None);
                    cursor += 4;
                    true
                }
                Some(length) => {
                    let start = cursor + 4;
                    let end = start + usize::try_from(length).unwrap_or(usize::MAX / 2);
                    ranges.push(Some((start, end)));
                    cursor = end;
                    end <= pending.len()
                }
                None => false,
            });
            if !complete {
                break;
            }
            let mut fields: [Option<&[u8]>; MAX_COLUMNS] = [None; MAX_COLUMNS];
            for (field, range) in fields.iter_mut().zip(&ranges) {
                *field = range.map(|(start, end)| &pending[start..end]);
            }
            row(&fields[..columns])?;
            at = cursor;
        }
        pending.drain(..at);
    }
    // The stream ended after `ReadyForQuery`: the connection is in
    // step with the server again.
    drop(stream);
    checkout.clean = true;
    if !finished || !pending.is_empty() {
        return Err(malformed("truncated COPY output"));
    }
    Ok(())
}

fn read_i16(bytes: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// A `timestamptz` as microseconds since the Unix epoch.
pub fn timestamp(field: Option<&[u8]>) -> ServiceResult<Option<i64>> {
    field
        .map(|bytes| {
            let since_2000 = i64::from_be_bytes(
                bytes
                    .try_into()
                    .map_err(|_| malformed("a timestamp of the wrong size"))?,
            );
            since_2000
                .checked_add(POSTGRES_EPOCH_MICROS)
                .ok_or_else(|| malformed("an infinite timestamp"))
        })
        .transpose()
}

pub fn text(field: Option<&[u8]>) -> ServiceResult<Option<&str>> {
    field
        .map(|bytes| std::str::from_utf8(bytes).map_err(|_| malformed("text that is not UTF-8")))
        .transpose()
}

pub fn uuid(field: Option<&[u8]>) -> ServiceResult<[u8; 16]> {
    field
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed("a missing or malformed uuid"))
}
