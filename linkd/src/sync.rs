//! Locking a mutex or a read-write lock that a panic elsewhere may have poisoned: `kit`'s
//! [`lock`], [`read`] and [`write`], which take the guard whether or not it is poisoned
//! (every lock in linkd guards state that is valid between statements).

pub(crate) use kit::sync::{lock, read, write};
