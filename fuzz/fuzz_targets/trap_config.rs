//! The trap's configuration file: arbitrary text to `Config::parse`.
//!
//! Checked beyond "no panic": a refusal is one line; an accepted file gives
//! windows, limits, intervals and retention that the detector can add to a
//! time without overflowing, with every TTL and timeout above zero, and a
//! host name without control characters or spaces.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mxkit_trap::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Err(e) => assert!(!e.to_string().contains('\n'), "{e:?}"),
        Ok(c) => {
            let w = c.windows();
            let now = mxkit_trap::model::now();
            for v in [
                w.memory,
                w.skew,
                w.known_good,
                w.decide,
                w.startup_grace,
                w.health,
                w.recovery,
                w.second_session,
                w.suspect_ttl,
                w.trapped_ttl,
                w.repeat_ttl,
                w.cap,
            ] {
                assert!(v >= 0 && now.checked_add(v).is_some(), "{v}");
            }
            for ttl in [w.suspect_ttl, w.trapped_ttl, w.repeat_ttl, w.cap, w.health] {
                assert!(ttl > 0);
            }
            let l = c.limits();
            assert!(!l.command_timeout.is_zero() && !l.session_timeout.is_zero());
            assert!(l.max_commands >= 1 && l.max_connections >= 1);
            for d in [c.interval(), c.probe_interval(), c.watch_interval()] {
                assert!(!d.is_zero());
            }
            let r = c.retention();
            assert!(r.observations > 0 && r.decisions > 0);
            if let Some(name) = &c.hostname {
                assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
});
