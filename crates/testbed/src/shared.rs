//! One test bed shared by the tests of a file that run at the same time,
//! and stopped when the last of them is done.
//!
//! A bed held in a plain `static` is never dropped: Rust runs no
//! destructors of statics at exit, so its servers (knotd, unbound, a Postfix
//! master) would outlive the test process and hold their ports. [`Shared`]
//! keeps only a weak reference: [`Shared::get`] hands out a [`Lease`]; the
//! bed is made by the first test that needs it and dropped with the last
//! lease, and a later test makes a new one. Making and the final drop both
//! happen under one lock, so a new bed never starts while the old one is
//! still stopping (and freeing its addresses).

use std::ops::Deref;
use std::sync::{Arc, Mutex, Weak};

/// A bed shared while some test holds a lease on it.
pub struct Shared<T> {
    slot: Mutex<Weak<T>>,
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Shared<T> {
    /// An empty slot, for a `static`.
    pub const fn new() -> Self {
        Shared {
            slot: Mutex::new(Weak::new()),
        }
    }

    /// The running bed, or a new one from `make`.
    pub fn get(&'static self, make: impl FnOnce() -> T) -> Lease<T> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let bed = match slot.upgrade() {
            Some(bed) => bed,
            None => {
                let bed = Arc::new(make());
                *slot = Arc::downgrade(&bed);
                bed
            }
        };
        Lease {
            bed: Some(bed),
            shared: self,
        }
    }
}

/// A test's hold on a shared bed; dereferences to it.
pub struct Lease<T: 'static> {
    bed: Option<Arc<T>>,
    shared: &'static Shared<T>,
}

impl<T> Deref for Lease<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.bed.as_ref().expect("held until drop")
    }
}

impl<T> Drop for Lease<T> {
    fn drop(&mut self) {
        // The last lease drops the bed while holding the lock.
        let _slot = self.shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        self.bed = None;
    }
}
