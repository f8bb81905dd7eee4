//! Rules on DNS blocklists (`--dnsbl ZONE`, row MX33): `exchanger-listed`,
//! `dnsbl-refused` and `dnsbl-unusable`.
//!
//! Words (the rest are [`crate::dnsbl`]'s):
//! - the **lists** are the ones the caller names ([`super::CheckOptions::dnsbl`]);
//!   there is no default: public lists such as Spamhaus forbid queries
//!   through public resolvers and answer them with error codes, so only
//!   lists the caller may ask through its resolver are asked;
//! - the **addresses** are every distinct address of the plan's exchangers
//!   (IPv4 and IPv6), each with the first exchanger it was found under.
//!
//! Every list is asked about every address (RFC 5782 section 2.1 and 2.4
//! query names, A then TXT for the reason), and for its test entries (RFC
//! 5782 section 5): the IPv4 ones always, the IPv6 ones when there are IPv6
//! addresses. All questions go through the check's resolver view, at most
//! [`MAX_IN_FLIGHT`] at once. What comes of them:
//! - listed: `exchanger-listed`, one per address and list, with the codes
//!   and the list's reason; set aside when the list's test entries show it
//!   lists everything or its answers are rewritten (`dnsbl-unusable` says
//!   so instead);
//! - refused (error codes `127.255.255.0/24`): one `dnsbl-refused` per list,
//!   never a listing;
//! - broken (an address outside `127.0.0.0/8`), a list that lists its
//!   must-never entry, or one that lists neither test entry: one
//!   `dnsbl-unusable` per list;
//! - a family whose test entry is missing while the other family's works
//!   (most lists have no IPv6 entries): that family's addresses are "not
//!   checked" on that list, which does not change the exit code;
//! - failed (timeout, SERVFAIL): `exchanger-listed` is incomplete for that
//!   list, never read as listed or not.
//!
//! Offline, no list can be asked: the rules are "not checked".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::StreamExt;
use serde::Serialize;

use super::{
    Context, DNSBL_REFUSED, DNSBL_UNUSABLE, EXCHANGER_LISTED, Evidence, Findings, Rule,
    exchanger_addresses,
};
use crate::dnsbl::{self, Health, List, ListAnswer, Listing, TestEntries};

/// Every rule of this family.
pub const FAMILY: &[&Rule] = &[&EXCHANGER_LISTED, &DNSBL_REFUSED, &DNSBL_UNUSABLE];

/// Questions to the lists in flight at once (each an A question, and a TXT
/// question after a listing): enough to ask a few lists about a few
/// exchangers in one round trip, few enough not to look like a flood.
pub const MAX_IN_FLIGHT: usize = 16;

/// What one list said: the `dnsbl` key of the check's JSON, one per list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListReport {
    /// The list's zone (`bl.example.net`).
    pub list: String,
    /// Its IPv4 test entries (`127.0.0.2` listed, `127.0.0.1` not), judged:
    /// `working`, `no_test_entry`, `lists_everything`, `refused`, `broken`,
    /// `failed`. Absent when there was no address to ask about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Health>,
    /// Its IPv6 test entries (`::FFFF:7F00:2`, `::FFFF:7F00:1`), judged;
    /// asked only when there are IPv6 addresses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Health>,
    /// Its answer for every exchanger address.
    pub addresses: Vec<AddressAnswer>,
}

impl ListReport {
    /// Nothing asked of `list` yet.
    fn empty(list: &List) -> ListReport {
        ListReport {
            list: list.as_str().to_string(),
            ipv4: None,
            ipv6: None,
            addresses: Vec::new(),
        }
    }
}

/// A list's answer about one exchanger address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressAnswer {
    /// The address.
    pub address: IpAddr,
    /// The (first) exchanger it belongs to.
    pub exchanger: String,
    /// The question and what came of it (`query`, `status`, `codes`,
    /// `reason`, `server`).
    #[serde(flatten)]
    pub answer: ListAnswer,
}

/// What was asked of one list.
enum Job {
    /// The test entries of a family (the answers for the listed entry and
    /// the unlisted one come one after the other).
    Test { v6: bool },
    /// An exchanger address.
    Address(usize),
}

/// Run this family's rules against `lists`; returns what each list said
/// (empty when no list was asked).
pub async fn check(ctx: &Context<'_>, lists: &[List], out: &mut Findings) -> Vec<ListReport> {
    if lists.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = lists.iter().map(List::as_str).collect();
    if ctx.live.is_none() {
        out.skipped(
            FAMILY,
            format!(
                "offline: the blocklists ({}) were not asked",
                names.join(", ")
            ),
        );
        return Vec::new();
    }
    if ctx.mx.outcome.is_temporary() {
        out.incomplete(
            &[&EXCHANGER_LISTED],
            format!(
                "the MX lookup for {} failed: {}",
                ctx.domain.as_str(),
                ctx.mx.outcome
            ),
        );
        return Vec::new();
    }
    let targets = exchanger_addresses(ctx.route);
    if targets.is_empty() {
        return lists.iter().map(ListReport::empty).collect();
    }
    let has_v6 = targets.iter().any(|t| t.ip.is_ipv6());

    // Every question of every list, in one bounded stream, answers in order.
    let mut jobs: Vec<(usize, Job)> = Vec::new();
    for li in 0..lists.len() {
        jobs.push((li, Job::Test { v6: false }));
        if has_v6 {
            jobs.push((li, Job::Test { v6: true }));
        }
        jobs.extend((0..targets.len()).map(|ti| (li, Job::Address(ti))));
    }
    // Any address of the family picks its test entries.
    let v4_family = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let v6_family = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    // (list, address, whether to ask the reason): test entries need none.
    let questions: Vec<(usize, IpAddr, bool)> = jobs
        .iter()
        .flat_map(|(li, job)| match job {
            Job::Test { v6 } => {
                let (yes, no) = dnsbl::test_addresses(if *v6 { v6_family } else { v4_family });
                vec![(*li, yes, false), (*li, no, false)]
            }
            Job::Address(ti) => vec![(*li, targets[*ti].ip, true)],
        })
        .collect();
    let lookup = ctx.lookup;
    // The futures are made before the stream (a stream holding the closure
    // that makes them would not be Send for every lifetime).
    let asks: Vec<_> = questions
        .iter()
        .map(|(li, ip, reason)| dnsbl::ask_with(lookup, &lists[*li], *ip, *reason))
        .collect();
    let mut answers = futures::stream::iter(asks)
        .buffered(MAX_IN_FLIGHT)
        .collect::<Vec<ListAnswer>>()
        .await
        .into_iter();

    let mut reports: Vec<ListReport> = lists.iter().map(ListReport::empty).collect();
    let mut tests: Vec<[Option<TestEntries>; 2]> = lists.iter().map(|_| [None, None]).collect();
    for (li, job) in &jobs {
        match job {
            Job::Test { v6 } => {
                let (Some(listed), Some(unlisted)) = (answers.next(), answers.next()) else {
                    break;
                };
                let health = dnsbl::judge(&listed.listing, &unlisted.listing);
                if *v6 {
                    reports[*li].ipv6 = Some(health);
                } else {
                    reports[*li].ipv4 = Some(health);
                }
                tests[*li][usize::from(*v6)] = Some(TestEntries {
                    listed,
                    unlisted,
                    health,
                });
            }
            Job::Address(ti) => {
                let Some(answer) = answers.next() else { break };
                reports[*li].addresses.push(AddressAnswer {
                    address: targets[*ti].ip,
                    exchanger: targets[*ti].exchanger.to_string(),
                    answer,
                });
            }
        }
    }
    for ((list, report), tests) in lists.iter().zip(&reports).zip(&tests) {
        judge_list(out, list, report, tests);
    }
    reports
}

/// The evidence of one answer: the A question and, when there was one, the
/// TXT question.
fn evidence(answer: &ListAnswer) -> Vec<Evidence> {
    let a = match &answer.listing {
        Listing::Listed { codes } | Listing::Refused { codes } => join(codes),
        Listing::Broken { addresses } => join(addresses),
        Listing::NotListed => "NXDOMAIN or no A record (not listed)".to_string(),
        Listing::Failed { error } => error.clone(),
    };
    let mut out = vec![Evidence {
        source: answer.server.clone(),
        query: Some(format!("{} A", answer.query)),
        answer: a,
    }];
    if matches!(
        answer.listing,
        Listing::Listed { .. } | Listing::Refused { .. }
    ) {
        out.push(Evidence {
            source: answer.server.clone(),
            query: Some(format!("{} TXT", answer.query)),
            answer: answer
                .reason
                .as_ref()
                .map_or_else(|| "no TXT record".to_string(), |r| format!("\"{r}\"")),
        });
    }
    out
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// The findings for one list.
fn judge_list(
    out: &mut Findings,
    list: &List,
    report: &ListReport,
    tests: &[Option<TestEntries>; 2],
) {
    let name = list.as_str();
    let health = |v6: bool| tests[usize::from(v6)].as_ref().map(|t| t.health);
    let test_evidence: Vec<Evidence> = tests
        .iter()
        .flatten()
        .flat_map(|t| {
            let mut e = evidence(&t.listed);
            e.extend(evidence(&t.unlisted));
            e
        })
        .collect();

    // A family whose listings mean nothing: the list lists everything, or
    // its answers are rewritten on the way.
    let untrusted = |ip: IpAddr| {
        matches!(
            health(ip.is_ipv6()),
            Some(Health::ListsEverything | Health::Broken)
        )
    };
    // A family the list does not cover: its test entry is missing while
    // the other family's works.
    let uncovered =
        |v6: bool| health(v6) == Some(Health::NoTestEntry) && health(!v6) == Some(Health::Working);

    // dnsbl-unusable.
    let broken: Vec<&AddressAnswer> = report
        .addresses
        .iter()
        .filter(|a| matches!(a.answer.listing, Listing::Broken { .. }))
        .collect();
    let healths = [health(false), health(true)];
    let set_aside = report
        .addresses
        .iter()
        .filter(|a| matches!(a.answer.listing, Listing::Listed { .. }) && untrusted(a.address))
        .count();
    let aside = if set_aside > 0 {
        format!(
            "; {} of exchanger addresses on it {} set aside, not reported as exchanger-listed",
            super::count(set_aside, "listing", "listings"),
            if set_aside == 1 { "is" } else { "are" }
        )
    } else {
        String::new()
    };
    let why = if healths.contains(&Some(Health::Broken)) || !broken.is_empty() {
        Some(format!(
            "{name} answers with addresses outside 127.0.0.0/8, which no blocklist returns (RFC 5782 section 2.1): the resolver rewrites its answers (an ISP's NXDOMAIN redirection), or the list's domain now belongs to someone else; its answers mean nothing{aside}"
        ))
    } else if healths.contains(&Some(Health::ListsEverything)) {
        Some(format!(
            "{name} lists its test entry {} that RFC 5782 section 5 says no list may list: it answers \"listed\" for every address (a wildcard; retired lists do this on purpose), so its listings mean nothing{aside}",
            if health(false) == Some(Health::ListsEverything) {
                "127.0.0.1"
            } else {
                "::FFFF:7F00:1"
            }
        ))
    } else if health(false) == Some(Health::NoTestEntry)
        && matches!(health(true), None | Some(Health::NoTestEntry))
    {
        Some(format!(
            "{name} does not list its RFC 5782 section 5 test entry 127.0.0.2{}: the list is dead, the zone name is mistyped, or it is not a list of IP addresses, so its \"not listed\" answers mean nothing",
            if health(true).is_some() {
                " (nor ::FFFF:7F00:2)"
            } else {
                ""
            }
        ))
    } else {
        None
    };
    if let Some(why) = why {
        let mut e = test_evidence.clone();
        for a in &broken {
            e.extend(evidence(&a.answer));
        }
        out.add(&DNSBL_UNUSABLE, name, why)
            .evidence_all(e)
            .fix(format!(
                "check the zone name on the list's web site; if {name} is retired, stop using it (and remove it from the mail server's configuration too); if answers outside 127.0.0.0/8 come back, ask through a resolver that does not rewrite NXDOMAIN (with --server)"
            ));
    }

    // dnsbl-refused: error codes, for a test entry or an address.
    let refused: Vec<&AddressAnswer> = report
        .addresses
        .iter()
        .filter(|a| matches!(a.answer.listing, Listing::Refused { .. }))
        .collect();
    let tests_refused = healths.contains(&Some(Health::Refused));
    if tests_refused || !refused.is_empty() {
        let mut e: Vec<Evidence> = if tests_refused {
            test_evidence.clone()
        } else {
            Vec::new()
        };
        for a in &refused {
            e.extend(evidence(&a.answer));
        }
        let which = if refused.is_empty() {
            "its test entries".to_string()
        } else {
            let ips: Vec<String> = refused
                .iter()
                .map(|a| format!("{} (exchanger {})", a.address, a.exchanger))
                .collect();
            ips.join(", ")
        };
        out.add(
            &DNSBL_REFUSED,
            name,
            format!(
                "{name} refused to answer this resolver for {which}: it answered error codes in 127.255.255.0/24, not a listing, so those addresses were not checked on it. Lists such as Spamhaus answer 127.255.255.254 to queries through public or shared resolvers, 127.255.255.255 over their query limit and 127.255.255.252 to a malformed query"
            ),
        )
        .evidence_all(e)
        .fix(format!(
            "ask {name} through a resolver of your own that queries it directly (unbound or BIND on this host, not a public resolver such as 8.8.8.8), within the list's terms of use (some want a free query key in the zone name), and give it with --server"
        ));
    }

    // exchanger-listed.
    for a in &report.addresses {
        let Listing::Listed { codes } = &a.answer.listing else {
            continue;
        };
        if untrusted(a.address) {
            continue;
        }
        let reason = a.answer.reason.as_ref().map_or_else(
            || "no reason given (no TXT record)".to_string(),
            |r| format!("reason \"{r}\""),
        );
        out.add(
            &EXCHANGER_LISTED,
            a.address.to_string(),
            format!(
                "{} (exchanger {}) is listed on {name} (code {}; {reason}): receivers that use this list refuse or junk the mail this host sends (outgoing mail, bounces, forwards), and a listing often means that the host, or an account on it, sends spam",
                a.address,
                a.exchanger,
                join(codes)
            ),
        )
        .evidence_all(evidence(&a.answer))
        .fix(format!(
            "find out why on {name}'s web site (look {} up there; the reason often gives the page), remove the cause (a stolen password, an open relay, a spamming script or web form), then request delisting there; run this check again to see it gone",
            a.address
        ));
    }

    // Not checked: a family the list does not cover.
    for v6 in [false, true] {
        if !uncovered(v6) {
            continue;
        }
        let ips: Vec<String> = report
            .addresses
            .iter()
            .filter(|a| a.address.is_ipv6() == v6 && matches!(a.answer.listing, Listing::NotListed))
            .map(|a| a.address.to_string())
            .collect();
        if ips.is_empty() {
            continue;
        }
        let (fam, entry) = if v6 {
            ("IPv6", "::FFFF:7F00:2")
        } else {
            ("IPv4", "127.0.0.2")
        };
        out.skipped(
            &[&EXCHANGER_LISTED],
            format!(
                "{name} lists no {fam} addresses (its RFC 5782 section 5 test entry {entry} is not listed): {} not checked on it",
                ips.join(", ")
            ),
        );
    }

    // Incomplete: no answer, never read as listed or not.
    let failed: Vec<String> = report
        .addresses
        .iter()
        .filter_map(|a| match &a.answer.listing {
            Listing::Failed { error } => Some(format!(
                "{} {} (exchanger {}): {error}",
                family(a.address),
                a.address,
                a.exchanger
            )),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        out.incomplete(
            &[&EXCHANGER_LISTED],
            format!("{name} could not be asked about {}", failed.join("; ")),
        );
    }
    if healths.contains(&Some(Health::Failed)) {
        let errors: Vec<String> = tests
            .iter()
            .flatten()
            .flat_map(|t| [&t.listed, &t.unlisted])
            .filter_map(|a| match &a.listing {
                Listing::Failed { error } => Some(format!("{}: {error}", a.query)),
                _ => None,
            })
            .collect();
        out.incomplete(
            &[&DNSBL_UNUSABLE],
            format!(
                "the RFC 5782 test entries of {name} could not be asked ({})",
                errors.join("; ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Domain;
    use crate::check::{CheckOptions, Finding, Report, Severity};
    use crate::dns::RecordType;
    use crate::dns::fake::Fake;
    use crate::dns::zone::ZoneSet;

    const DOMAIN: &str = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n\
        @ MX 10 mx1\n@ MX 20 mx2\nmx1 A 192.0.2.25\nmx1 AAAA 2001:db8::25\nmx2 A 192.0.2.26\n";

    /// A list with both test entries of both families, 192.0.2.25 listed
    /// with a reason, 192.0.2.26 answered with an error code.
    const BL: &str = "$ORIGIN bl.test.\n$TTL 300\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n\
        2.0.0.127 A 127.0.0.2\n2.0.0.127 TXT \"test entry\"\n\
        2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 A 127.0.0.2\n\
        25.2.0.192 A 127.0.0.3\n25.2.0.192 TXT \"listed: see http://bl.test/q?ip=192.0.2.25\"\n\
        26.2.0.192 A 127.255.255.254\n26.2.0.192 TXT \"public resolver\"\n";

    fn with(lists: &[&str], fake: Fake) -> Report {
        run(lists, fake, true)
    }

    fn run(lists: &[&str], fake: Fake, live: bool) -> Report {
        check_on("example.test", lists, &fake, live)
    }

    /// Check `domain` with `lists` through `source` (also the live DNS
    /// when `live`).
    fn check_on(
        domain: &str,
        lists: &[&str],
        source: &dyn crate::dns::Lookup,
        live: bool,
    ) -> Report {
        let domain = Domain::parse(domain).unwrap();
        let options = CheckOptions {
            dnssec: false,
            dnsbl: lists.iter().map(|l| List::parse(l).unwrap()).collect(),
            ..CheckOptions::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(super::super::check(
            &domain,
            source,
            live.then_some(source),
            None,
            &ZoneSet::default(),
            &options,
        ))
    }

    fn fake(extra: &[&str]) -> Fake {
        let mut f = Fake::new().zone(DOMAIN).unwrap();
        for z in extra {
            f = f.zone(z).unwrap();
        }
        f
    }

    fn ours(r: &Report) -> Vec<&Finding> {
        r.findings
            .iter()
            .filter(|f| FAMILY.iter().any(|x| x.id == f.id))
            .collect()
    }

    #[test]
    fn listed_refused_and_clean_addresses_each_get_their_own_answer() {
        let r = with(&["bl.test"], fake(&[BL]));
        let found = ours(&r);
        assert_eq!(found.len(), 2, "{found:#?}");
        let listed = found.iter().find(|f| f.id == "exchanger-listed").unwrap();
        assert_eq!(listed.subject, "192.0.2.25");
        assert_eq!(listed.severity, Severity::Error);
        assert!(
            listed.message.contains("127.0.0.3")
                && listed.message.contains("http://bl.test/q?ip=192.0.2.25"),
            "{listed:#?}"
        );
        let answers: Vec<(&str, &str)> = listed
            .evidence
            .iter()
            .map(|e| (e.query.as_deref().unwrap(), e.answer.as_str()))
            .collect();
        assert_eq!(
            answers,
            vec![
                ("25.2.0.192.bl.test. A", "127.0.0.3"),
                (
                    "25.2.0.192.bl.test. TXT",
                    "\"listed: see http://bl.test/q?ip=192.0.2.25\""
                ),
            ]
        );
        let refused = found.iter().find(|f| f.id == "dnsbl-refused").unwrap();
        assert_eq!(refused.subject, "bl.test");
        assert!(refused.message.contains("192.0.2.26"), "{refused:#?}");
        assert!(
            refused
                .evidence
                .iter()
                .any(|e| e.answer == "\"public resolver\""),
            "{refused:#?}"
        );
        // The JSON key: both families' test entries work, every address
        // has its answer.
        let report = &r.dnsbl[0];
        assert_eq!(report.list, "bl.test");
        assert_eq!(report.ipv4, Some(Health::Working));
        assert_eq!(report.ipv6, Some(Health::Working));
        assert_eq!(report.addresses.len(), 3);
        let status = |ip: &str| {
            let a = report
                .addresses
                .iter()
                .find(|a| a.address.to_string() == ip)
                .unwrap();
            assert_eq!(
                a.exchanger,
                if ip.ends_with("26") {
                    "mx2.example.test"
                } else {
                    "mx1.example.test"
                }
            );
            &a.answer.listing
        };
        assert!(matches!(status("192.0.2.25"), Listing::Listed { .. }));
        assert_eq!(status("2001:db8::25"), &Listing::NotListed);
        assert!(matches!(status("192.0.2.26"), Listing::Refused { .. }));
        assert!(r.incomplete.is_empty(), "{:#?}", r.incomplete);
    }

    #[test]
    fn a_list_without_its_test_entry_is_dead() {
        let dead = "$ORIGIN dead.test.\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n";
        let r = with(&["dead.test"], fake(&[dead]));
        let found = ours(&r);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].id, "dnsbl-unusable");
        assert!(found[0].message.contains("127.0.0.2"), "{found:#?}");
    }

    #[test]
    fn a_list_that_lists_everything_is_unusable_and_its_listings_set_aside() {
        let wild = "$ORIGIN wild.test.\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n* A 127.0.0.2\n";
        let r = with(&["wild.test"], fake(&[wild]));
        let found = ours(&r);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].id, "dnsbl-unusable");
        assert!(
            found[0].message.contains("127.0.0.1") && found[0].message.contains("set aside"),
            "{found:#?}"
        );
    }

    #[test]
    fn answers_outside_127_are_a_broken_list_never_a_listing() {
        let hijacked =
            "$ORIGIN hijacked.test.\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n* A 198.51.100.80\n";
        let r = with(&["hijacked.test"], fake(&[hijacked]));
        let found = ours(&r);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].id, "dnsbl-unusable");
        assert!(
            found[0].message.contains("outside 127.0.0.0/8"),
            "{found:#?}"
        );
    }

    #[test]
    fn a_list_without_ipv6_entries_leaves_ipv6_addresses_not_checked() {
        let v4 = "$ORIGIN v4.test.\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n2.0.0.127 A 127.0.0.2\n";
        let r = with(&["v4.test"], fake(&[v4]));
        assert!(ours(&r).is_empty(), "{:#?}", r.findings);
        assert!(r.incomplete.is_empty());
        let skipped: Vec<&str> = r.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            skipped.iter().any(
                |s| s.contains("v4.test lists no IPv6 addresses") && s.contains("2001:db8::25")
            ),
            "{skipped:#?}"
        );
        assert_eq!(r.dnsbl[0].ipv6, Some(Health::NoTestEntry));
    }

    #[test]
    fn no_answer_is_incomplete_never_listed() {
        let f = fake(&[BL])
            .servfail("25.2.0.192.bl.test", RecordType::A)
            .timeout("26.2.0.192.bl.test", RecordType::A);
        let r = with(&["bl.test"], f);
        assert!(ours(&r).is_empty(), "{:#?}", r.findings);
        assert_eq!(r.incomplete.len(), 1, "{:#?}", r.incomplete);
        let i = &r.incomplete[0];
        assert_eq!(i.rules, vec!["exchanger-listed"]);
        assert!(
            i.reason.contains("192.0.2.25") && i.reason.contains("SERVFAIL"),
            "{i:#?}"
        );
        assert!(
            i.reason.contains("192.0.2.26") && i.reason.contains("timeout"),
            "{i:#?}"
        );
    }

    #[test]
    fn offline_no_list_is_asked_and_the_report_says_so() {
        let f = fake(&[BL]);
        let r = run(&["bl.test"], f, false);
        assert!(ours(&r).is_empty());
        assert!(r.dnsbl.is_empty());
        assert!(
            r.skipped
                .iter()
                .any(|s| s.rules.contains(&"exchanger-listed")
                    && s.reason
                        .contains("offline: the blocklists (bl.test) were not asked")),
            "{:#?}",
            r.skipped
        );
    }

    #[test]
    fn no_list_no_question() {
        let f = fake(&[BL]);
        let r = with(&[], f);
        assert!(r.dnsbl.is_empty());
        assert!(
            r.skipped
                .iter()
                .all(|s| !s.rules.contains(&"exchanger-listed"))
        );
    }

    #[test]
    fn every_question_is_asked_once() {
        let f = fake(&[BL]);
        check_on("example.test", &["bl.test"], &f, true);
        let asked: Vec<_> = f
            .asked()
            .into_iter()
            .filter(|(n, _)| n.to_ascii().ends_with(".bl.test."))
            .collect();
        // 4 test entries and 3 addresses (A), TXT for the listing and the
        // refusal.
        assert_eq!(asked.len(), 4 + 3 + 2, "{asked:#?}");
        assert_eq!(f.count("25.2.0.192.bl.test", RecordType::TXT), 1);
        assert_eq!(f.count("2.0.0.127.bl.test", RecordType::TXT), 0);
    }

    /// A source that counts the questions to the list in flight at once.
    struct Counting {
        inner: Fake,
        now: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    impl crate::dns::Lookup for Counting {
        fn query<'a>(
            &'a self,
            name: &'a crate::dns::Name,
            rtype: RecordType,
        ) -> crate::dns::BoxFuture<'a, crate::dns::Response> {
            use std::sync::atomic::Ordering::SeqCst;
            Box::pin(async move {
                // Only the lists' questions (the other families have
                // bounds of their own).
                if !name.to_ascii().ends_with(".bl.test.") {
                    return self.inner.query(name, rtype).await;
                }
                let now = self.now.fetch_add(1, SeqCst) + 1;
                self.most.fetch_max(now, SeqCst);
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
                let resp = self.inner.query(name, rtype).await;
                self.now.fetch_sub(1, SeqCst);
                resp
            })
        }
    }

    #[test]
    fn questions_run_at_once_up_to_the_bound() {
        let mut zone = String::from(
            "$ORIGIN many.test.\n$TTL 300\n@ SOA ns1 h 1 1 1 1 1\n@ NS ns1\n@ MX 10 mx\n",
        );
        for i in 1..=30 {
            zone.push_str(&format!("mx A 192.0.2.{i}\n"));
        }
        let counting = Counting {
            inner: Fake::new().zone(&zone).unwrap().zone(BL).unwrap(),
            now: 0.into(),
            most: 0.into(),
        };
        let r = check_on("many.test", &["bl.test"], &counting, true);
        assert_eq!(r.dnsbl[0].addresses.len(), 30);
        let most = counting.most.load(std::sync::atomic::Ordering::SeqCst);
        assert!((2..=MAX_IN_FLIGHT).contains(&most), "{most} at once");
    }
}
