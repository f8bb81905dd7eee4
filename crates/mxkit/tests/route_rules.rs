//! The route test catalogue (docs/rules/route.md, cases 1 to 44) against
//! the routing logic, with the scripted fake source: the zone data is
//! `testdata/catalogue.test.zone` (the same file knotd serves in the CLI's
//! live tests), and what zone data cannot say (SERVFAIL, timeouts, truncation)
//! is scripted per question. Each test is named after the rule it checks
//! (RFC section or rule number in docs/rules/route.md) and notes its
//! catalogue case.

use std::collections::HashSet;
use std::net::IpAddr;

use mxkit::address::Address;
use mxkit::dns::fake::Fake;
use mxkit::dns::{Name, RecordType};
use mxkit::route::{Family, Route, RouteKind, RouteOptions, RouteVerdict, route, route_input};

#[path = "support/scan_json.rs"]
mod scan_json;

const CATALOGUE: &str = include_str!("../../../testdata/catalogue.test.zone");
const OTHER: &str = include_str!("../../../testdata/other.test.zone");

fn fake() -> Fake {
    Fake::new().zone(CATALOGUE).unwrap().zone(OTHER).unwrap()
}

fn opts(seed: u64) -> RouteOptions {
    RouteOptions {
        seed: Some(seed),
        ..RouteOptions::default()
    }
}

fn run(fake: &Fake, input: &str, opts: &RouteOptions) -> Route {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let route = rt.block_on(route_input(fake, input, opts));
    scan_json::assert_same(&route);
    route
}

fn plan(r: &Route) -> Vec<(u16, String, String)> {
    r.candidates
        .iter()
        .map(|c| (c.preference, c.exchanger.clone(), c.address.to_string()))
        .collect()
}

fn addrs(r: &Route) -> Vec<String> {
    r.candidates.iter().map(|c| c.address.to_string()).collect()
}

fn exchangers(r: &Route) -> Vec<String> {
    let mut v: Vec<String> = r.candidates.iter().map(|c| c.exchanger.clone()).collect();
    v.dedup();
    v
}

fn codes(r: &Route) -> Vec<&'static str> {
    r.warnings.iter().map(|w| w.code).collect()
}

fn dsn(r: &Route) -> &'static str {
    r.error.as_ref().map(|e| e.dsn).unwrap_or("")
}

fn c(n: &str) -> String {
    format!("user@{n}.catalogue.test")
}

#[test]
fn rfc5321_5_1_one_mx_one_address() {
    // case 1
    let r = run(&fake(), &c("c01"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(r.outcome, RouteKind::Mx);
    assert_eq!(
        plan(&r),
        vec![(10, "mx1.c01.catalogue.test".into(), "192.0.2.1".into())]
    );
    assert_eq!(r.domain, "c01.catalogue.test");
}

#[test]
fn rule12_sorted_numerically_not_in_answer_order() {
    // case 2
    for seed in 0..20 {
        let r = run(&fake(), &c("c02"), &opts(seed));
        assert_eq!(
            exchangers(&r),
            vec!["a.c02.catalogue.test", "b.c02.catalogue.test"]
        );
    }
}

#[test]
fn rule12_equal_preferences_are_shuffled_and_both_orders_occur() {
    // case 3
    let mut orders = HashSet::new();
    for seed in 0..64 {
        let r = run(&fake(), &c("c03"), &opts(seed));
        let ex = exchangers(&r);
        assert_eq!(ex[2], "c.c03.catalogue.test", "pref 20 always last");
        orders.insert(ex[..2].to_vec());
    }
    assert_eq!(
        orders.len(),
        2,
        "both orders of the two preference-10 hosts occur: {orders:?}"
    );
    // The same seed gives the same order.
    let a = run(&fake(), &c("c03"), &opts(7));
    let b = run(&fake(), &c("c03"), &opts(7));
    assert_eq!(plan(&a), plan(&b));
}

#[test]
fn rfc1035_3_3_9_preference_is_unsigned_16_bit() {
    // case 4
    let r = run(&fake(), &c("c04"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![
            (0, "y.c04.catalogue.test".into(), "192.0.2.41".into()),
            (65535, "z.c04.catalogue.test".into(), "192.0.2.42".into())
        ]
    );
}

#[test]
fn rfc5321_5_1_nodata_means_implicit_mx() {
    // case 5
    let r = run(&fake(), &c("c05"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(r.outcome, RouteKind::ImplicitMx);
    assert_eq!(
        plan(&r),
        vec![(0, "c05.catalogue.test".into(), "192.0.2.10".into())]
    );
    assert!(r.records.is_empty());
}

#[test]
fn rfc5321_5_1_implicit_mx_uses_aaaa_too() {
    // case 6
    let r = run(&fake(), &c("c06"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![(0, "c06.catalogue.test".into(), "2001:db8::6".into())]
    );
    let v4 = RouteOptions {
        family: Family::Ipv4,
        ..opts(1)
    };
    let r = run(&fake(), &c("c06"), &v4);
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoUsableExchanger);
}

#[test]
fn rfc5321_5_1_implicit_mx_without_address_is_permanent() {
    // case 7
    let r = run(&fake(), &c("c07"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoUsableExchanger);
    assert_eq!(dsn(&r), "5.4.4");
}

#[test]
fn rfc5321_5_1_nxdomain_is_permanent_and_nothing_more_is_asked() {
    // case 8
    let f = fake();
    let r = run(&f, &c("c08"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoSuchDomain);
    assert_eq!(f.asked().len(), 1, "only the MX question: {:?}", f.asked());
}

#[test]
fn rfc5321_5_1_servfail_is_temporary_and_the_a_record_is_not_used() {
    // case 9 (c12 has an A record of its own)
    let f = fake().servfail("c12.catalogue.test", RecordType::MX);
    let r = run(&f, &c("c12"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert_eq!(r.outcome, RouteKind::DnsTemporary);
    assert_eq!(dsn(&r), "4.4.3");
    assert!(r.candidates.is_empty());
    assert_eq!(f.count("c12.catalogue.test", RecordType::A), 0);
}

#[test]
fn rfc5321_5_1_mx_timeout_is_temporary() {
    // case 10 (postal #2833)
    let f = fake().timeout("c05.catalogue.test", RecordType::MX);
    let r = run(&f, &c("c05"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert_eq!(r.outcome, RouteKind::DnsTemporary);
    assert!(r.error.unwrap().message.contains("timeout"));
}

#[test]
fn rfc1123_6_1_3_2_truncated_mx_answer_is_never_used() {
    // case 11 (the TCP half is tested against the live engine)
    let f = fake().truncated("c01.catalogue.test", RecordType::MX);
    let r = run(&f, &c("c01"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert!(r.candidates.is_empty());
}

#[test]
fn rfc5321_5_1_domain_address_is_never_used_when_mx_exists() {
    // case 12
    let r = run(&fake(), &c("c12"), &opts(1));
    assert_eq!(addrs(&r), vec!["192.0.2.12"]);
    // Even when the only exchanger cannot be resolved.
    let f = fake().servfail("mx1.c12.catalogue.test", RecordType::A);
    let r = run(&f, &c("c12"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert!(r.candidates.is_empty());
    assert_eq!(f.count("c12.catalogue.test", RecordType::A), 0);
}

#[test]
fn rfc7505_null_mx_fails_permanently_with_no_address_query() {
    // case 13
    let f = fake();
    let r = run(&f, &c("c13"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NullMx);
    assert_eq!(dsn(&r), "5.1.10");
    assert_eq!(f.asked().len(), 1, "{:?}", f.asked());
}

#[test]
fn rfc7505_null_mx_beats_the_domain_address() {
    // case 14
    let f = fake();
    let r = run(&f, &c("c14"), &opts(1));
    assert_eq!(r.outcome, RouteKind::NullMx);
    assert_eq!(f.count("c14.catalogue.test", RecordType::A), 0);
}

#[test]
fn rule10_null_mx_mixed_with_other_mx_is_still_null_mx() {
    // case 15
    let r = run(&fake(), &c("c15"), &opts(1));
    assert_eq!(r.outcome, RouteKind::NullMx);
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert!(codes(&r).contains(&"null_mx_mixed"));
    assert_eq!(r.records.len(), 2);
}

#[test]
fn rule10_root_exchange_at_any_preference_is_null_mx() {
    // case 16
    let r = run(&fake(), &c("c16"), &opts(1));
    assert_eq!(r.outcome, RouteKind::NullMx);
}

#[test]
fn rfc5321_5_1_cname_at_the_domain_is_followed() {
    // case 17
    let r = run(&fake(), &c("c17"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(
        plan(&r),
        vec![(10, "mx.t.other.test".into(), "192.0.2.17".into())]
    );
    assert_eq!(
        r.domain, "c17.catalogue.test",
        "the recipient domain is unchanged"
    );
    assert_eq!(r.cname_chain, vec!["t.other.test"]);
    assert!(codes(&r).contains(&"domain_is_cname"));
}

#[test]
fn rule4_cname_loop_is_temporary() {
    // case 18
    let r = run(&fake(), &c("c18"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert_eq!(r.outcome, RouteKind::DnsTemporary);
    assert!(r.error.unwrap().message.contains("CNAME loop"));
}

#[test]
fn rfc2181_10_3_exchanger_alias_is_followed_with_a_warning_and_keeps_its_name() {
    // case 19
    let r = run(&fake(), &c("c19"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![(10, "alias.c19.catalogue.test".into(), "192.0.2.7".into())]
    );
    assert_eq!(
        r.candidates[0].canonical.as_deref(),
        Some("real.c19.catalogue.test")
    );
    assert!(codes(&r).contains(&"mx_is_cname"));
}

#[test]
fn rfc5321_5_1_mx_naming_an_ip_is_unusable_unless_allowed() {
    // case 20
    let r = run(&fake(), &c("c20"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoUsableExchanger);
    assert!(codes(&r).contains(&"mx_is_ip"));
    let lenient = RouteOptions {
        allow_ip_mx: true,
        ..opts(1)
    };
    let f = fake();
    let r = run(&f, &c("c20"), &lenient);
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(addrs(&r), vec!["192.0.2.7"]);
    assert!(codes(&r).contains(&"mx_is_ip"));
    assert_eq!(
        f.count("192.0.2.7.", RecordType::A),
        0,
        "the IP is used, not looked up"
    );
}

#[test]
fn rfc5321_5_1_ip_mx_is_skipped_and_the_next_used() {
    // case 21
    let r = run(&fake(), &c("c21"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![(20, "mx2.c21.catalogue.test".into(), "192.0.2.21".into())]
    );
}

#[test]
fn rule11_invalid_exchange_name_is_dropped() {
    // case 22
    let r = run(&fake(), &c("c22"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![(20, "mx2.c22.catalogue.test".into(), "192.0.2.22".into())]
    );
    assert!(codes(&r).contains(&"invalid_exchanger"));
}

#[test]
fn rule11_only_invalid_exchange_names_is_permanent() {
    // case 23
    let r = run(&fake(), &c("c23"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoUsableExchanger);
}

#[test]
fn rule16_exchanger_nxdomain_is_skipped() {
    // case 24
    let r = run(&fake(), &c("c24"), &opts(1));
    assert_eq!(exchangers(&r), vec!["ok.c24.catalogue.test"]);
    assert!(codes(&r).contains(&"exchanger_without_address"));
}

#[test]
fn rule16_every_exchanger_nxdomain_is_permanent() {
    // case 25
    let r = run(&fake(), &c("c25"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoUsableExchanger);
}

#[test]
fn rule16_a_soft_error_dominates_hard_ones() {
    // case 26: a SERVFAIL, b NXDOMAIN
    let f = fake()
        .servfail("gone1.c25.catalogue.test", RecordType::A)
        .servfail("gone1.c25.catalogue.test", RecordType::AAAA);
    let r = run(&f, &c("c25"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert_eq!(r.outcome, RouteKind::DnsTemporary);
    assert_eq!(dsn(&r), "4.4.3");
}

#[test]
fn rule16_soft_failure_of_one_exchanger_leaves_the_others() {
    // case 27
    let f = fake()
        .servfail("gone.c24.catalogue.test", RecordType::A)
        .servfail("gone.c24.catalogue.test", RecordType::AAAA);
    let r = run(&f, &c("c24"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(exchangers(&r), vec!["ok.c24.catalogue.test"]);
    assert!(codes(&r).contains(&"exchanger_lookup_failed"));
}

#[test]
fn rfc3974_both_families_appear() {
    // case 28
    let r = run(&fake(), &c("c28"), &opts(1));
    let a = addrs(&r);
    assert_eq!(a.len(), 2);
    assert!(a.contains(&"192.0.2.28".to_string()) && a.contains(&"2001:db8::28".to_string()));
    for (family, want) in [(Family::Ipv4, "192.0.2.28"), (Family::Ipv6, "2001:db8::28")] {
        let f = fake();
        let r = run(&f, &c("c28"), &RouteOptions { family, ..opts(1) });
        assert_eq!(addrs(&r), vec![want]);
        let other = if family == Family::Ipv4 {
            RecordType::AAAA
        } else {
            RecordType::A
        };
        assert_eq!(
            f.count("mx1.c28.catalogue.test", other),
            0,
            "no query for an unusable family"
        );
    }
}

#[test]
fn rule18_address_limit_keeps_both_families() {
    // case 29: over many seeds, h3 (the only A host) is sometimes shuffled last
    for seed in 0..32 {
        let o = RouteOptions {
            address_limit: Some(5),
            ..opts(seed)
        };
        let r = run(&fake(), &c("c29"), &o);
        assert_eq!(r.candidates.len(), 5, "seed {seed}");
        assert!(
            r.candidates.iter().any(|c| c.address.is_ipv4()),
            "seed {seed}: no IPv4 kept: {:?}",
            addrs(&r)
        );
        assert!(codes(&r).contains(&"address_limit"));
    }
}

#[test]
fn rfc3974_ipv6_only_exchangers_are_unusable_for_an_ipv4_client() {
    // case 30
    let r = run(
        &fake(),
        &c("c30"),
        &RouteOptions {
            family: Family::Ipv4,
            ..opts(1)
        },
    );
    assert_eq!(r.status, RouteVerdict::Permanent);
    assert_eq!(r.outcome, RouteKind::NoUsableExchanger);
}

fn as_self() -> RouteOptions {
    RouteOptions {
        self_addresses: vec!["192.0.2.99".parse::<IpAddr>().unwrap()],
        ..opts(1)
    }
}

#[test]
fn rule19_self_as_only_exchanger_loops() {
    // case 31, by name and by address
    let by_name = RouteOptions {
        self_names: vec![Name::from_ascii("SELF.c31.catalogue.test.").unwrap()],
        ..opts(1)
    };
    for o in [by_name, as_self()] {
        let r = run(&fake(), &c("c31"), &o);
        assert_eq!(r.status, RouteVerdict::Permanent);
        assert_eq!(r.outcome, RouteKind::LoopsToSelf);
        assert_eq!(dsn(&r), "5.4.6");
    }
}

#[test]
fn rule19_self_truncation_drops_its_level_and_every_higher_one() {
    // case 32
    let r = run(&fake(), &c("c32"), &as_self());
    assert_eq!(
        plan(&r),
        vec![(10, "p.c32.catalogue.test".into(), "192.0.2.32".into())]
    );
    assert!(codes(&r).contains(&"self_truncated"));
}

#[test]
fn rule19_self_at_the_best_level_drops_the_whole_level() {
    // case 33
    let r = run(&fake(), &c("c33"), &as_self());
    assert_eq!(r.outcome, RouteKind::LoopsToSelf);
    assert_eq!(r.status, RouteVerdict::Permanent);
}

#[test]
fn rule19_backup_without_resolvable_primary_is_temporary() {
    // case 34
    let r = run(&fake(), &c("c34"), &as_self());
    assert_eq!(r.status, RouteVerdict::Temporary);
    assert_eq!(r.outcome, RouteKind::NoPrimaryRelay);
    assert_eq!(dsn(&r), "4.4.4");
}

#[test]
fn rule19_loopback_exchanger_counts_as_self() {
    // case 35
    let r = run(&fake(), &c("c35"), &opts(1));
    assert_eq!(r.outcome, RouteKind::LoopsToSelf);
    let r = run(
        &fake(),
        &c("c35"),
        &RouteOptions {
            loopback_is_self: false,
            ..opts(1)
        },
    );
    assert_eq!(addrs(&r), vec!["127.0.0.1"]);
}

#[test]
fn rule13_same_exchanger_in_another_case_is_kept_once_at_its_lowest_preference() {
    // case 36
    let r = run(&fake(), &c("c36"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![(10, "a.c36.catalogue.test".into(), "192.0.2.36".into())]
    );
    assert!(codes(&r).contains(&"duplicate_exchanger"));
}

#[test]
fn rule13_same_address_is_tried_once() {
    // case 37
    let r = run(&fake(), &c("c37"), &opts(1));
    assert_eq!(
        plan(&r),
        vec![(10, "a.c37.catalogue.test".into(), "192.0.2.37".into())]
    );
    assert!(codes(&r).contains(&"duplicate_address"));
}

#[test]
fn rfc5321_4_1_3_ipv4_literal_asks_no_dns() {
    // case 38
    let f = fake();
    let r = run(&f, "user@[192.0.2.1]", &opts(1));
    assert_eq!(r.outcome, RouteKind::AddressLiteral);
    assert_eq!(addrs(&r), vec!["192.0.2.1"]);
    assert!(f.asked().is_empty());
}

#[test]
fn rfc5321_4_1_3_ipv6_literal_tag_in_any_case() {
    // case 39
    for input in ["user@[IPv6:2001:db8::1]", "user@[ipv6:2001:db8::1]"] {
        let f = fake();
        let r = run(&f, input, &opts(1));
        assert_eq!(addrs(&r), vec!["2001:db8::1"], "{input}");
        assert!(f.asked().is_empty());
    }
}

#[test]
fn rfc5321_4_1_3_bad_literals_are_permanent_syntax_errors() {
    // case 40
    for input in ["user@[2001:db8::1]", "user@[300.1.1.1]", "user@[IPv6:zz]"] {
        let f = fake();
        let r = run(&f, input, &opts(1));
        assert_eq!(r.status, RouteVerdict::Permanent, "{input}");
        assert_eq!(r.outcome, RouteKind::InvalidAddress, "{input}");
        assert_eq!(dsn(&r), "5.1.3");
        assert!(f.asked().is_empty());
    }
}

#[test]
fn rfc5890_idn_domain_is_queried_as_a_labels() {
    // case 41
    let f = fake();
    let r = run(&f, "user@bücher.catalogue.test", &opts(1));
    assert_eq!(r.domain, "xn--bcher-kva.catalogue.test");
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(f.asked()[0].0.to_ascii(), "xn--bcher-kva.catalogue.test.");
}

#[test]
fn rfc5321_5_1_single_label_is_not_completed_with_a_search_list() {
    // case 42
    let f = fake();
    let r = run(&f, "user@intranet", &opts(1));
    assert_eq!(r.outcome, RouteKind::NoSuchDomain);
    let asked: Vec<String> = f.asked().iter().map(|(n, _)| n.to_ascii()).collect();
    assert_eq!(asked, vec!["intranet."]);
}

#[test]
fn rfc2181_5_2_plan_ttl_is_the_lowest_record_ttl() {
    // case 43: a server that sends one MX RRset with two TTLs (zone files and
    // knotd make them equal, so the response is scripted); the cache
    // honouring the TTL is tested in dns_cache.rs
    use mxkit::dns::rdata::MX;
    use mxkit::dns::{RData, Record, Response, Status};
    let owner = Name::from_ascii("c43.catalogue.test.").unwrap();
    let mx = |pref: u16, host: &str, ttl: u32| {
        Record::from_rdata(
            owner.clone(),
            ttl,
            RData::MX(MX::new(pref, Name::from_ascii(host).unwrap())),
        )
    };
    let resp = Response {
        status: Status::NoError,
        answers: vec![
            mx(10, "a.c43.catalogue.test.", 300),
            mx(20, "b.c43.catalogue.test.", 3600),
        ]
        .into(),
        negative_ttl: None,
        authentic: false,
        authoritative: false,
        server: "scripted".into(),
        owners_asked: false,
    };
    let f = fake().set("c43.catalogue.test", RecordType::MX, resp);
    let r = run(&f, &c("c43"), &opts(1));
    assert_eq!(r.status, RouteVerdict::Deliverable);
    assert_eq!(r.ttl, Some(300));
    let ttls: Vec<u32> = r.records.iter().map(|m| m.ttl).collect();
    assert_eq!(ttls, vec![300, 3600]);
    let r = run(&fake(), &c("c01"), &opts(1));
    assert_eq!(r.ttl, Some(3600));
}

#[test]
fn rule20_address_limit_takes_the_lowest_preferences_first() {
    // case 44: 40 exchangers x 2 A, pairs of equal preference
    let mut firsts = HashSet::new();
    for seed in 0..32 {
        let o = RouteOptions {
            address_limit: Some(5),
            ..opts(seed)
        };
        let r = run(&fake(), &c("c44"), &o);
        assert_eq!(r.candidates.len(), 5);
        let prefs: Vec<u16> = r.candidates.iter().map(|c| c.preference).collect();
        assert_eq!(prefs, vec![10, 10, 10, 10, 20], "seed {seed}");
        firsts.insert(r.candidates[0].exchanger.clone());
    }
    assert_eq!(
        firsts.len(),
        2,
        "both preference-10 hosts come first sometimes"
    );
}

#[test]
fn destination_parsing_feeds_routing() {
    let f = fake();
    let addr = Address::parse("\"john doe\"@c01.catalogue.test").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(route(&f, &addr.destination, &opts(1)));
    assert_eq!(r.status, RouteVerdict::Deliverable);
}

#[test]
fn rule19_ipv4_mapped_loopback_counts_as_self() {
    let zone = "$ORIGIN mapped.test.\n@ SOA ns h 1 2 3 4 5\n@ MX 10 mx\nmx AAAA ::ffff:127.0.0.1\n";
    let f = Fake::new().zone(zone).unwrap();
    let r = run(&f, "mapped.test", &opts(1));
    assert_eq!(r.outcome, RouteKind::LoopsToSelf);
}
