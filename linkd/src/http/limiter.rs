//! The bad-token limiter: failed link openings per client (IPv4 address or IPv6 /64) in a
//! fixed-size table, so each request costs O(1) and memory is bounded whatever the number
//! of clients.
//!
//! The table has [`SLOTS`] entries in buckets of [`WAYS`], found by a keyed hash of the
//! client. A new client takes a free or ended entry of its bucket, else the one with the
//! fewest failures; so a flood of new addresses can make the table forget some clients
//! early (they get their 20 tries again), but never blocks one that did not fail.

use super::peers::client_key;
use crate::sync::lock;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed openings allowed per client and window.
pub const MAX_FAILURES: u32 = 20;
/// The window of [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Clients remembered at once (about 400 KiB).
pub const SLOTS: usize = 16384;
/// Entries per bucket.
pub const WAYS: usize = 4;

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u128,
    failures: u32,
    /// Start of the window, milliseconds since the limiter was made; 0 = free.
    since_ms: u64,
}

/// Counts failed link openings per client.
pub struct Limiter {
    slots: Mutex<Box<[Slot]>>,
    hasher: RandomState,
    epoch: Instant,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            slots: Mutex::new(vec![Slot::default(); SLOTS].into_boxed_slice()),
            hasher: RandomState::new(),
            epoch: Instant::now(),
        }
    }
}

impl Limiter {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn bucket(&self, key: u128) -> std::ops::Range<usize> {
        let b = (self.hasher.hash_one(key) as usize) % (SLOTS / WAYS);
        b * WAYS..(b + 1) * WAYS
    }

    fn live(s: &Slot, now_ms: u64) -> bool {
        s.since_ms != 0 && now_ms - s.since_ms < FAILURE_WINDOW.as_millis() as u64
    }

    /// Whether `ip` has failed too often in the current window.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        let key = client_key(ip);
        let now = self.now_ms();
        let range = self.bucket(key);
        let slots = lock(&self.slots);
        slots[range]
            .iter()
            .any(|s| s.key == key && Self::live(s, now) && s.failures >= MAX_FAILURES)
    }

    /// Counts a failed opening of `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let key = client_key(ip);
        let now = self.now_ms();
        let range = self.bucket(key);
        let mut slots = lock(&self.slots);
        let bucket = &mut slots[range];
        let i = match bucket.iter().position(|s| s.key == key && s.since_ms != 0) {
            Some(i) => i,
            None => {
                let victim = (0..WAYS)
                    .min_by_key(|&i| {
                        let s = &bucket[i];
                        let failures = if Self::live(s, now) { s.failures } else { 0 };
                        (failures, s.since_ms)
                    })
                    .unwrap_or(0);
                bucket[victim] = Slot {
                    key,
                    failures: 0,
                    since_ms: now,
                };
                victim
            }
        };
        let s = &mut bucket[i];
        if !Self::live(s, now) {
            *s = Slot {
                key,
                failures: 0,
                since_ms: now,
            };
        }
        s.failures += 1;
        if s.failures == MAX_FAILURES {
            tracing::warn!(client = %ip, "too many invalid links tried; slowing this client down");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn twenty_failures_block_a_client_and_its_ipv6_64() {
        let l = Limiter::default();
        for i in 0..MAX_FAILURES {
            assert!(!l.blocked("2001:db8:1:2::1".parse().unwrap()));
            // Every address of the /64 is the same client.
            l.fail(format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap());
        }
        assert!(l.blocked("2001:db8:1:2:abcd::7".parse().unwrap()));
        assert!(!l.blocked("2001:db8:1:3::1".parse().unwrap()));
        assert!(!l.blocked("192.0.2.1".parse().unwrap()));
    }

    /// A million other clients cost the same per request and no memory, and never block a
    /// client that did not fail.
    #[test]
    fn cost_and_memory_stay_bounded_with_many_clients() {
        let l = Limiter::default();
        let start = Instant::now();
        for i in 0..1_000_000u32 {
            l.fail(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_secs(10),
            "1,000,000 failures took {elapsed:?}"
        );
        assert_eq!(l.slots.lock().unwrap().len(), SLOTS);
        assert!(!l.blocked("192.0.2.1".parse().unwrap()));
        // A client hammering among them is still caught.
        let bad: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            l.fail(bad);
        }
        assert!(l.blocked(bad));
    }
}
