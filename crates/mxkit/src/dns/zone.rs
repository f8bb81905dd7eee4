//! Zone files (to be written).
use super::{Name, RecordType, Response};

/// A set of loaded zones.
#[derive(Default)]
pub struct ZoneSet {}

impl ZoneSet {
    /// The authoritative answer for a name inside a loaded zone, or `None`.
    pub fn answer(&self, _name: &Name, _rtype: RecordType) -> Option<Response> {
        None
    }
}
