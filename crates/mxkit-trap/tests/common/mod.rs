//! What the store and detector tests share: a fresh store of each back end
//! and the macro that runs one async case against both.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use mxkit_trap::Store;

/// Where a test's store lives; keeps the SQLite folder alive.
pub struct Fixture {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite:{}", dir.path().join("trap.db").display());
        Fixture {
            url,
            _dir: Some(dir),
        }
    }

    pub fn postgres(test: &str) -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let url = testbed::postgres::shared().create_database(&format!("trap_{test}_{n}"));
        Fixture { url, _dir: None }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }
}

/// Two #[tokio::test]s per case: `sqlite::CASE` and `postgres::CASE`.
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Fixture::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fx = tokio::task::spawn_blocking(|| super::Fixture::postgres(stringify!($case)))
                        .await
                        .expect("postgres fixture");
                    super::$case(fx).await;
                }
            )*
        }
    };
}
