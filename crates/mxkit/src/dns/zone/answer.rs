//! Answering from the loaded zones, as their authoritative server would
//! (RFC 1034 section 4.3.2; the rules are in the module documentation of
//! `dns::zone`).

use std::collections::HashSet;

use super::super::{MAX_CNAME_CHAIN, Response, Status};
use super::store::{CUT, EXISTS};
use super::{Name, Record, RecordType, ZoneSet, fqdn};

/// What one zone says about one name.
enum Step {
    Records(Vec<Record>),
    Cname(Box<Record>, Name),
    NoData,
    NxDomain,
}

impl ZoneSet {
    /// The zone with the longest origin that contains `name`.
    fn zone_for(&self, name: &Name) -> Option<usize> {
        if self.by_origin.is_empty() {
            return None;
        }
        let mut n = fqdn(name);
        loop {
            if let Some(&i) = self.by_origin.get(&n) {
                return Some(i);
            }
            if n.is_root() {
                return None;
            }
            n = n.base_name();
        }
    }

    /// The authoritative answer for a name inside a loaded zone, or `None`
    /// when no loaded zone holds the name or it is at or below a zone cut (a
    /// delegation: the data is not ours, ask live DNS). See the module
    /// documentation for the rules.
    pub fn answer(&self, name: &Name, rtype: RecordType) -> Option<Response> {
        let mut zi = self.zone_for(name)?;
        let mut step = self.step(zi, name, rtype)?;
        let mut zones_used = vec![zi];
        let mut answers: Vec<Record> = Vec::new();
        let mut seen: HashSet<Name> = HashSet::from([fqdn(name)]);
        let (status, negative_ttl) = loop {
            match step {
                Step::Records(records) => {
                    answers.extend(records);
                    break (Status::NoError, None);
                }
                Step::NoData => break (Status::NoError, self.zones[zi].negative_ttl),
                Step::NxDomain => break (Status::NxDomain, self.zones[zi].negative_ttl),
                Step::Cname(record, target) => {
                    answers.push(*record);
                    // A loop or a long chain: stop here, the caller's
                    // resolve() reports it.
                    if !seen.insert(fqdn(&target)) || answers.len() > MAX_CNAME_CHAIN {
                        break (Status::NoError, None);
                    }
                    let next = self
                        .zone_for(&target)
                        .and_then(|z| Some((z, self.step(z, &target, rtype)?)));
                    let Some((z, next)) = next else {
                        // The target is not ours: the caller asks for it.
                        break (Status::NoError, None);
                    };
                    if !zones_used.contains(&z) {
                        zones_used.push(z);
                    }
                    zi = z;
                    step = next;
                }
            }
        };
        let files: Vec<String> = zones_used
            .iter()
            .map(|&z| self.zones[z].file.display().to_string())
            .collect();
        Some(Response {
            status,
            answers: answers.into(),
            negative_ttl,
            // Only for zones live DNS serves signed (`assume_signed`).
            authentic: zones_used.iter().all(|&z| self.is_signed(z)),
            // Zone data is the authority itself (RFC 1035 section 4.1.1).
            authoritative: true,
            server: format!("zone {}", files.join(", ")).into(),
            // A chain through CNAMEs has other owners; resolve compares.
            owners_asked: false,
        })
    }

    /// What zone `zi` says about `name`; `None` at or below a zone cut.
    fn step(&self, zi: usize, name: &Name, rtype: RecordType) -> Option<Step> {
        let zone = &self.zones[zi];
        let data = &zone.data;
        let labels: Vec<&[u8]> = name.iter().collect();
        let below = labels.len().checked_sub(zone.origin.iter().count())?;
        // Down from the apex, one label at a time, while the name exists:
        // the deepest node reached is the name itself or its closest
        // encloser (RFC 4592 section 3.3.1).
        let mut node = zone.apex;
        let mut depth = 0;
        for label in labels[..below].iter().rev() {
            match data.names.child(node, label) {
                Some(child) if data.names.flags(child) & EXISTS != 0 => {
                    node = child;
                    depth += 1;
                }
                _ => break,
            }
            if data.cuts && data.names.flags(node) & CUT != 0 {
                // At or below a zone cut the data is not ours, except DS at
                // the cut itself: the parent side answers it (RFC 4035
                // section 3.1.4.1).
                if !(depth == below && rtype == RecordType::DS) {
                    return None;
                }
            }
        }
        if depth == below {
            if data.at(node).is_empty() {
                return Some(Step::NoData);
            }
            return Some(self.at_node(zi, node, None, rtype));
        }
        if data.wildcards
            && let Some(star) = data.names.child(node, b"*")
            && !data.at(star).is_empty()
        {
            return Some(self.at_node(zi, star, Some(name), rtype));
        }
        Some(Step::NxDomain)
    }

    /// The records at one node; `owner` renames them (wildcard synthesis).
    fn at_node(&self, zi: usize, node: u32, owner: Option<&Name>, rtype: RecordType) -> Step {
        let data = &self.zones[zi].data;
        let serve = |i: u32| {
            let mut r = data.served(i);
            if let Some(owner) = owner {
                r.name = owner.clone();
            }
            r
        };
        let recs = || {
            data.at(node)
                .iter()
                .copied()
                .filter(|&i| !data.recs[i as usize].is_duplicate())
        };
        let records: Vec<Record> = recs()
            .filter(|&i| {
                let t = data.recs[i as usize].rtype();
                t == rtype || rtype == RecordType::ANY
            })
            .map(serve)
            .collect();
        if !records.is_empty() {
            return Step::Records(records);
        }
        if rtype != RecordType::CNAME {
            for i in recs() {
                if data.recs[i as usize].rtype() == RecordType::CNAME
                    && let Some(target) = data.cname_target(i)
                {
                    return Step::Cname(Box::new(serve(i)), target);
                }
            }
        }
        Step::NoData
    }
}
