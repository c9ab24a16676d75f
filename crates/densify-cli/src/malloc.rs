//! glibc's malloc, set for burn's CPU backends before anything else runs.
//!
//! burn's CPU backends allocate and free tensors of tens to hundreds of MB at every op (an
//! 8 × 8 training step's attention scores alone are 200 MB). glibc serves each block above its
//! mmap threshold (at most 32 MB, adjusted as blocks are freed) with `mmap` and returns it with
//! `munmap`, and trims its heap's top above the trim threshold, so every op page-faults its
//! output in afresh: 13.8 M minor faults and 64 s of system time in 3 flex training steps.
//! Serving blocks up to 1 GiB from the heap and keeping freed memory for reuse cut that to
//! 2.3 M faults and made the step 2.5x faster, for 3% more peak RSS (docs/benchmarks.md).
//!
//! A user's own `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_` or
//! `GLIBC_TUNABLES` wins: then nothing is changed. Library users get the same by exporting
//! `MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647
//! MALLOC_TOP_PAD_=268435456`.

/// The settings, as `mallopt` takes them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const SETTINGS: [(libc::c_int, libc::c_int); 3] = [
    (libc::M_MMAP_THRESHOLD, 1 << 30),
    (libc::M_TRIM_THRESHOLD, libc::c_int::MAX),
    (libc::M_TOP_PAD, 256 << 20),
];

/// Applies the settings unless the user set glibc's malloc through the environment; returns
/// whether they were applied. Call it first in `main`, before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn keep_freed_memory_for_reuse() -> bool {
    if user_set() {
        return false;
    }
    SETTINGS.iter().all(|&(parameter, value)| {
        // SAFETY: `mallopt` only changes glibc's allocation parameters; it takes the arena
        // lock itself and the values are within the ranges glibc documents.
        unsafe { libc::mallopt(parameter, value) == 1 }
    })
}

/// Whether the environment sets glibc's malloc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn user_set() -> bool {
    [
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_TOP_PAD_",
        "GLIBC_TUNABLES",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some())
}

/// Elsewhere the system allocator is left as it is.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory_for_reuse() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        // glibc answers 1 for each setting it took.
        assert_eq!(super::keep_freed_memory_for_reuse(), !super::user_set());
    }
}
