//! Keeping linkd's memory close to what it uses: glibc keeps freed memory in its arenas, so
//! after a peak (thousands of connections that came and went) the footprint would stay at the
//! peak. linkd hands free memory back to the system periodically.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// Hands memory that is free inside the allocator back to the system.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's own arenas; it takes no
    // pointers and is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}
