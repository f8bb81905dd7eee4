//! The scan's JSON writer (`mxkit::scan::json`) checked against serde_json
//! on the routes the tests make: the same bytes, every field and variant
//! the catalogue, DANE and MTA-STS routes hold.

use mxkit::route::Route;

/// Panics unless `route` is written by the scan's writer as serde_json
/// writes it.
pub fn assert_same(route: &Route) {
    let mut fast = Vec::new();
    mxkit::scan::json::write(&mut fast, route).unwrap();
    assert_eq!(
        String::from_utf8(fast).unwrap(),
        serde_json::to_string(route).unwrap()
    );
}
