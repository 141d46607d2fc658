//! Stored Responses API answers (`store: true`): the store itself is `shale_fleet::responses`
//! (in memory for one replica, Postgres or Redis for a fleet); this module keeps the server's
//! names for it.

pub use shale_fleet::responses::{MemoryStore, Owner, ResponseStore, StoreError, StoredResponse};
