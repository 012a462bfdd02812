//! The bytes the router's Rust code holds on its heap right now, for the load check's leak test.
//!
//! wasm linear memory only grows, and a leak can hide for a long time in space freed by a busier
//! moment, so its size says little about what is still held. The global allocator here is the
//! default one (dlmalloc) with a running count of live bytes beside it. The count is read as a raw
//! wasm export, `costrouter_live_heap_bytes`, which no route exposes: the load check calls it
//! through workerd's inspector, with the isolate idle, before and after a pass of requests.
//! Its cost is one addition per allocation and per free.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct CountingAllocator;

/// wasm32 without threads: the atomic is a plain integer, `Relaxed` adds nothing.
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

// SAFETY: every call is passed to `System` unchanged; the count is bookkeeping only.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        // A failed realloc leaves the old block in place, still counted.
        if !moved.is_null() {
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }
}

/// Live heap bytes, as a raw export (not through wasm-bindgen: nothing in JS calls it).
#[unsafe(no_mangle)]
pub extern "C" fn costrouter_live_heap_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}
