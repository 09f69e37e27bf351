//! Webhook entries their receiver refused for good (a 4xx other than 408, 409 and 429): kept in the store's
//! state per webhook, counted by `yujing_webhook_refused`, listed by `yujing webhook refused` and
//! `GET /api/v1/webhooks`, and sent again on request (`yujing webhook retry`, `POST
//! /api/v1/webhooks/{name}/retry`). The deliverer is the only writer of a webhook's list; a retry request is a
//! second key the deliverer consumes, so the two never write the same key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yujing_log::{Batch, Log, LogError, Offset};

use crate::read::ReadError;

/// A failure reading or writing a webhook's refused entries.
#[derive(Debug, thiserror::Error)]
pub enum RefusedError {
    /// Reading the state failed, or it did not decode.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing the state failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A list could not be encoded (a bug).
    #[error("encoding a webhook's refused entries: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One outbox entry a receiver refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedDelivery {
    /// Its offset in the outbox (the SSE id).
    pub offset: Offset,
    /// The entry's id (the `Idempotency-Key` sent).
    pub event_id: String,
    /// `<kind>.<event>`.
    pub event: String,
    /// The HTTP status the receiver answered last.
    pub status: u16,
    /// When it answered it.
    pub at: DateTime<Utc>,
}

/// The state key of webhook `name`'s refused entries.
pub fn refused_key(name: &str) -> Vec<u8> {
    format!("webhook/{name}/refused").into_bytes()
}

/// The state key of a request to send webhook `name`'s refused entries again.
pub fn retry_key(name: &str) -> Vec<u8> {
    format!("webhook/{name}/retry").into_bytes()
}

fn read_list<T: for<'de> Deserialize<'de>, L: Log + ?Sized>(
    log: &L,
    key: &[u8],
) -> Result<Vec<T>, ReadError> {
    match log.state(key).map_err(ReadError::Log)? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ReadError::Decode {
            topic: String::from_utf8_lossy(key).into_owned(),
            offset: 0,
            reason: e.to_string(),
        }),
    }
}

/// Webhook `name`'s refused entries, oldest first.
pub fn refused<L: Log + ?Sized>(log: &L, name: &str) -> Result<Vec<RefusedDelivery>, ReadError> {
    read_list(log, &refused_key(name))
}

/// The offsets of a pending retry request of webhook `name` (empty: none).
pub fn retry_requested<L: Log + ?Sized>(log: &L, name: &str) -> Result<Vec<Offset>, ReadError> {
    read_list(log, &retry_key(name))
}

/// Asks the deliverer of webhook `name` to send its refused entries again; returns how many. The deliverer
/// takes the request on its next round (at once when idle, within seconds otherwise).
pub fn request_retry<L: Log + ?Sized>(log: &L, name: &str) -> Result<usize, RefusedError> {
    let offsets: Vec<Offset> = refused(log, name)?.iter().map(|r| r.offset).collect();
    if offsets.is_empty() {
        return Ok(0);
    }
    let mut batch = Batch::new();
    batch.put_state(retry_key(name), serde_json::to_vec(&offsets)?);
    log.write(batch)?;
    Ok(offsets.len())
}

/// Adds the write of webhook `name`'s refused list to `batch`.
pub fn put_refused(batch: &mut Batch, name: &str, list: &[RefusedDelivery]) -> Result<(), RefusedError> {
    batch.put_state(refused_key(name), serde_json::to_vec(list)?);
    Ok(())
}

/// Adds the removal of webhook `name`'s retry request to `batch`.
pub fn clear_retry(batch: &mut Batch, name: &str) {
    batch.delete_state(retry_key(name));
}
