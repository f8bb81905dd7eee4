//! The trap's configuration parser under every number a file can hold:
//! each numeric key of `config::RANGES` gets integers and floats from the
//! whole of their types, `nan`, `inf` and `1e308`. A value is refused with
//! its key's name, on one line, or accepted and then usable: the windows
//! and TTLs the detector adds to a time never overflow it, and none is
//! below zero. (The fuzz target `trap_config` feeds arbitrary text.)

use mxkit_trap::config::{Config, RANGES};
use proptest::prelude::*;

#[path = "../../mxkit/tests/support/seeded.rs"]
mod seeded;

proptest! {
    #![proptest_config(seeded::config(512, 0x6d78_7472_6170))]

    #[test]
    fn any_number_is_refused_by_name_or_usable(
        which in 0..RANGES.len(),
        value in prop_oneof![
            proptest::num::f64::ANY.prop_map(|v| format!("{v:?}")),
            proptest::num::i64::ANY.prop_map(|v| v.to_string()),
            Just("nan".to_string()),
            Just("-inf".to_string()),
            Just("1e308".to_string()),
            Just("\"60\"".to_string()),
        ],
    ) {
        let range = RANGES[which];
        let text = match range.key.split_once('.') {
            Some((table, key)) => format!("[{table}]\n{key} = {value}\n"),
            None => format!("{} = {value}\n", range.key),
        };
        match Config::parse(&text) {
            Ok(c) => {
                let w = c.windows();
                let _ = (c.limits(), c.retention(), c.interval());
                let _ = (c.probe_interval(), c.watch_interval());
                let now = mxkit_trap::model::now();
                for v in [w.memory, w.known_good, w.decide, w.suspect_ttl, w.trapped_ttl, w.repeat_ttl, w.cap] {
                    prop_assert!(v >= 0);
                    prop_assert!(now.checked_add(v).is_some());
                }
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.starts_with(&format!("{}: ", range.key)), "{:?}: {}", text, e);
                prop_assert!(!e.contains('\n'));
            }
        }
    }
}
