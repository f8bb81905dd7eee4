//! The scan's JSON writers (`mxkit::scan::json`) checked against serde_json
//! on the routes the tests make: the same bytes, every field and variant
//! the catalogue, DANE and MTA-STS routes hold.

use mxkit::route::Route;

/// Panics unless `route` is written by the scan's writers (the route's
/// own, `write_route`, and the general one, `write`) as serde_json writes
/// it.
pub fn assert_same(route: &Route) {
    let theirs = serde_json::to_string(route).unwrap();
    let mut general = Vec::new();
    mxkit::scan::json::write(&mut general, route).unwrap();
    assert_eq!(String::from_utf8(general).unwrap(), theirs);
    let mut own = Vec::new();
    mxkit::scan::json::write_route(&mut own, route).unwrap();
    assert_eq!(String::from_utf8(own).unwrap(), theirs);
}
