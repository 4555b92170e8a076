//! Keeping linkd's memory close to what it uses after a load peak.
//!
//! Thousands of connections that come and go leave their buffers (about 15 KiB each) freed
//! between small allocations that live on (links, sessions, cache entries). glibc's malloc
//! mixes all sizes in the same pages, so a few live bytes pin a freed page. The linkd binary
//! therefore allocates with jemalloc (declared in `main.rs`), which keeps each size class in
//! its own pages and whose background thread returns pages unused for a second to the
//! system. What still goes through glibc (SQLite's own allocations) is handed back here,
//! periodically.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// Hands memory that is free inside glibc's malloc back to the system.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's own arenas; it takes no
    // pointers and is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}
