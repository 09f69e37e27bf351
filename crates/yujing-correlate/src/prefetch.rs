//! [`prefetch`]: ask the processor for a value's cache line before reading it.
//!
//! A clue's hundred-odd candidates are scattered over a window of hundreds of megabytes, so reading each one's
//! time and profile is a cache miss; read one after another, the misses follow one another. Asked for together
//! first, they overlap. The instruction is wrapped by `safe_arch` (a reference in, nothing read, so safe Rust),
//! and the workspace keeps forbidding `unsafe`.

/// Start loading the cache line that holds `value` into every cache level, without waiting for it. Only a
/// hint: it changes no result. A no-op where the instruction is not available.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse"))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(any(target_arch = "x86", target_arch = "x86_64"), target_feature = "sse")))]
    let _ = value;
}
