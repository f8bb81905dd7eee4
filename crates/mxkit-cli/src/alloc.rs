//! The binary's allocator: mimalloc, asked for a plain block whenever a
//! plain block is aligned enough.
//!
//! Why not `mimalloc::MiMalloc` as it is: it asks `mi_malloc_aligned` for
//! every allocation, and mimalloc serves an aligned request above 1 KiB
//! (a route's future in the scan's set, a batch of results) by
//! over-allocating and adjusting, some 400 instructions where a plain
//! `mi_malloc` takes a tenth of that. A scan makes a few such allocations
//! per domain: 3% of its instructions went there. Every mimalloc block
//! is aligned to at least a word (its sizes are whole words), which is
//! the test mimalloc's own `mi_realloc_aligned` uses to take the plain
//! path; larger alignments still go through `mi_malloc_aligned`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;

/// The alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc, plain where plain is aligned enough.
pub struct Allocator;

// SAFETY: every method hands the layout's request to mimalloc, whose
// blocks meet it: a plain block when the alignment is at most a word (every
// mimalloc block is word-aligned), an aligned block otherwise; blocks of
// both kinds are freed and resized by `mi_free` and `mi_realloc_aligned`,
// which take any mimalloc block.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: a plain request of a non-zero size (GlobalAlloc's
            // contract), word-aligned as said above.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast::<u8>() }
        } else {
            // SAFETY: the caller's layout, as given.
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as in `alloc`.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast::<u8>() }
        } else {
            // SAFETY: the caller's layout, as given.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a mimalloc block this allocator gave.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is a mimalloc block this allocator gave, with
        // `layout`; mimalloc resizes word-aligned blocks plainly.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every size and alignment a program asks for come back
    /// aligned, hold what was written and survive a resize.
    #[test]
    fn blocks_are_aligned_and_hold_their_bytes() {
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 3, 8, 12, 24, 40, 100, 1000, 1025, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is written within
                // its size and freed once, with its layout.
                unsafe {
                    for zeroed in [false, true] {
                        let p = if zeroed {
                            Allocator.alloc_zeroed(layout)
                        } else {
                            Allocator.alloc(layout)
                        };
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0, "size {size} align {align}");
                        if zeroed {
                            assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                        }
                        p.write_bytes(0xa5, size);
                        let q = Allocator.realloc(p, layout, size * 2);
                        assert_eq!(q as usize % align, 0);
                        assert!(
                            std::slice::from_raw_parts(q, size)
                                .iter()
                                .all(|&b| b == 0xa5)
                        );
                        Allocator.dealloc(q, Layout::from_size_align(size * 2, align).unwrap());
                    }
                }
            }
        }
    }
}
