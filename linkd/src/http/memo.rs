//! A connection's last verified playback cookie. A player sends the same `watch_session`
//! cookie with every request of a keep-alive connection, and checking its signature again
//! each time (a base64 decode and two SHA-256 blocks) was the largest part of the gate's cost
//! for a small answer. The memo keeps the one value that verified last on this connection,
//! with the signer's key epoch and the link token it was checked under. The same bytes under
//! the same master keys and the same token verify the same way, so a request that repeats
//! them skips the MAC; the session's expiry and the link's state are still checked on every
//! request, exactly as without the memo.
//!
//! The value is compared in constant time: behind a reverse proxy one upstream connection
//! carries requests of many viewers, and how far two values agree must not show in timing.
//! A key rotation (new epoch) or a new link token makes the memo miss, so the full check
//! decides again.

use super::session::{Claim, VALUE_LEN};
use crate::sync::lock;
use crate::token::Token;
use std::sync::Mutex;

/// The last cookie value that verified on one connection.
#[derive(Default)]
pub struct Memo(Mutex<Option<Seen>>);

struct Seen {
    value: [u8; VALUE_LEN],
    claim: Claim<'static>,
    epoch: u64,
    token: Token,
}

impl Memo {
    /// The claim of `value` if it is the value this connection verified last, under the
    /// master keys of `epoch`. Its signature held under the link key of the token that
    /// [`Memo::verified_under`] answers for.
    pub fn recall<'a>(&self, value: &'a str, epoch: u64) -> Option<Claim<'a>> {
        let seen = lock(&self.0);
        let s = seen.as_ref()?;
        let same = same_bytes(&s.value, value.as_bytes());
        (same && s.epoch == epoch).then(|| s.claim.attach(value))
    }

    /// Whether the remembered value was verified under link key `token`.
    pub fn verified_under(&self, token: &Token) -> bool {
        lock(&self.0).as_ref().is_some_and(|s| s.token == *token)
    }

    /// Remembers `claim` (parsed from `value`), which just verified under the keys of
    /// `epoch` and link token `token`.
    pub fn keep(&self, value: &str, claim: &Claim<'_>, epoch: u64, token: &Token) {
        let Ok(bytes) = <[u8; VALUE_LEN]>::try_from(value.as_bytes()) else {
            return;
        };
        *lock(&self.0) = Some(Seen {
            value: bytes,
            claim: claim.detach(),
            epoch,
            token: token.clone(),
        });
    }
}

/// Whether `a` and `b` are equal, in time that depends on their length only: the words are
/// folded into one difference before anything is decided.
fn same_bytes(a: &[u8; VALUE_LEN], b: &[u8]) -> bool {
    if b.len() != VALUE_LEN {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    let diff = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .fold(0u64, |d, (x, y)| d | (word(x) ^ word(y)));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_sees_a_difference_in_any_byte_and_any_length() {
        let a = [b'x'; VALUE_LEN];
        assert!(same_bytes(&a, &a));
        for i in 0..VALUE_LEN {
            let mut b = a;
            b[i] ^= 1;
            assert!(!same_bytes(&a, &b), "byte {i}");
        }
        assert!(!same_bytes(&a, &a[..VALUE_LEN - 1]));
        assert!(!same_bytes(&a, &[b'x'; VALUE_LEN + 1]));
    }

    #[test]
    fn a_kept_claim_is_recalled_only_for_the_same_value_epoch_and_token() {
        let signer = super::super::session::Sessions::single(&[7; 32]);
        let token = Token::generate();
        let (_, value) = signer.issue(3, &token, 2_000_000_000);
        let claim = Claim::parse(&value).unwrap();
        let memo = Memo::default();
        assert!(memo.recall(&value, 1).is_none(), "nothing kept yet");
        memo.keep(&value, &claim, 1, &token);
        assert_eq!(memo.recall(&value, 1), Some(claim));
        assert!(memo.verified_under(&token));
        assert!(!memo.verified_under(&Token::generate()));
        assert!(memo.recall(&value, 2).is_none(), "keys changed since");
        let mut other = value.clone().into_bytes();
        other[10] ^= 1;
        let other = String::from_utf8(other).unwrap();
        assert!(memo.recall(&other, 1).is_none());
    }
}
