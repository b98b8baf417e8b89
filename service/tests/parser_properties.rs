//! Property tests of the parsers ferry-service exposes (docs/SECURITY.md,
//! "Parsers"): the table-filter grammar, the changefeed dispatcher rules and
//! the consumer-assignment decoder. Generated valid input means what it
//! should; any input is refused or accepted without a panic.

use ferry_service::{
    changefeeds::{
        filter::{SYSTEM_SCHEMAS, TableFilter},
        spec::{DispatchKind, Dispatchers},
    },
    kafka::admin::decode_assignment,
};
use proptest::prelude::*;

/// A name no system schema has, in any case.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_$]{0,10}".prop_filter("a system schema", |n| {
        !SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(n))
    })
}

fn filter(rules: &[String]) -> TableFilter {
    TableFilter::parse(rules).unwrap_or_else(|e| panic!("{rules:?}: {e}"))
}

/// `name` backquoted, a doubled backquote standing for one.
fn backquoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_plain_rule_matches_its_table_in_any_case_and_no_other(
        schema in name(),
        table in name(),
        other in name(),
    ) {
        let f = filter(&[format!("{schema}.{table}")]);
        prop_assert!(f.matches(&schema, &table));
        prop_assert!(f.matches(&schema.to_uppercase(), &table.to_lowercase()));
        prop_assert!(f.matches_schema(&schema));
        prop_assert_eq!(f.matches(&schema, &other), other.eq_ignore_ascii_case(&table));
        prop_assert_eq!(f.matches(&other, &table), other.eq_ignore_ascii_case(&schema));
    }

    #[test]
    fn a_quoted_rule_matches_exactly_its_name(
        schema in "[^\u{0}]{1,12}",
        table in "[^\u{0}]{1,12}",
        suffix in "[a-z*?]{1,3}",
    ) {
        prop_assume!(!SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(&schema)));
        let rule = format!("{}.{}", backquoted(&schema), backquoted(&table));
        prop_assume!(rule.len() <= 512 && rule.trim_matches([' ', '\t']) == rule);
        let f = filter(&[rule]);
        prop_assert!(f.matches(&schema, &table));
        // Wildcards are literal between quotes.
        let longer = format!("{table}{suffix}");
        prop_assert!(!f.matches(&schema, &longer));
    }

    #[test]
    fn a_wildcard_matches_every_name_with_its_prefix(
        schema in name(),
        prefix in "[a-z_]{0,6}",
        rest in "[a-zA-Z0-9_]{0,8}",
        other in name(),
    ) {
        let f = filter(&[format!("{schema}.{prefix}*")]);
        let name = format!("{prefix}{rest}");
        prop_assert!(f.matches(&schema, &name));
        let lower = other.to_lowercase();
        prop_assert_eq!(f.matches(&schema, &other), lower.starts_with(&prefix));
    }

    #[test]
    fn an_exclusion_after_everything_removes_exactly_its_table(
        schema in name(),
        table in name(),
        other_schema in name(),
        other_table in name(),
    ) {
        let f = filter(&["*.*".into(), format!("!{schema}.{table}")]);
        prop_assert!(!f.matches(&schema, &table));
        let excluded = other_schema.eq_ignore_ascii_case(&schema)
            && other_table.eq_ignore_ascii_case(&table);
        prop_assert_eq!(f.matches(&other_schema, &other_table), !excluded);
        prop_assert!(f.matches_schema(&schema), "other tables of the schema still count");
    }

    #[test]
    fn system_schemas_never_match(rules in prop::collection::vec("[a-z*!.]{1,12}", 0..5), table in name()) {
        if let Ok(f) = TableFilter::parse(&rules) {
            for schema in SYSTEM_SCHEMAS {
                prop_assert!(!f.matches(schema, &table));
                prop_assert!(!f.matches_schema(schema));
            }
        }
    }

    #[test]
    fn any_rules_parse_or_fail_and_match_without_panicking(
        rules in prop::collection::vec(any::<String>(), 0..6),
        grammar in prop::collection::vec("[a-z`\"/\\\\\\[\\]!^*?.#@ \\-]{0,16}", 0..6),
        schema in any::<String>(),
        table in any::<String>(),
    ) {
        for rules in [&rules, &grammar] {
            if let Ok(f) = TableFilter::parse(rules) {
                let _ = f.matches(&schema, &table);
                let _ = f.matches_schema(&schema);
            }
        }
    }

    #[test]
    fn the_first_dispatcher_rule_that_matches_decides(
        rules in prop::collection::vec((name(), name(), 0usize..4), 1..6),
        schema in name(),
        table in name(),
    ) {
        let kinds = ["ts", "table", "index-value", "default"];
        let parsed = Dispatchers::parse(
            &rules
                .iter()
                .map(|(s, t, k)| (vec![format!("{s}.{t}")], kinds[*k].to_owned()))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let expected = rules
            .iter()
            .find(|(s, t, _)| s.eq_ignore_ascii_case(&schema) && t.eq_ignore_ascii_case(&table))
            .map_or(DispatchKind::Default, |(_, _, k)| {
                [DispatchKind::Ts, DispatchKind::Table, DispatchKind::IndexValue, DispatchKind::Default][*k]
            });
        prop_assert_eq!(parsed.kind_for(&schema, &table), expected);
        for (i, (s, t, _)) in rules.iter().enumerate() {
            let first = rules.iter().position(|(s2, t2, _)| {
                s2.eq_ignore_ascii_case(s) && t2.eq_ignore_ascii_case(t)
            });
            if first == Some(i) {
                prop_assert_eq!(parsed.kind_for(s, t), [
                    DispatchKind::Ts, DispatchKind::Table, DispatchKind::IndexValue, DispatchKind::Default,
                ][rules[i].2]);
            }
        }
    }

    #[test]
    fn any_dispatcher_rules_parse_or_fail(
        rules in prop::collection::vec(
            (prop::collection::vec(any::<String>(), 0..3), any::<String>()),
            0..4,
        ),
    ) {
        if let Ok(parsed) = Dispatchers::parse(&rules) {
            let _ = parsed.kind_for("app", "orders");
        }
    }

    #[test]
    fn an_encoded_assignment_decodes_to_its_partitions(
        version in 0i16..4,
        topics in prop::collection::vec(
            ("[a-zA-Z0-9._-]{1,40}", prop::collection::vec(any::<i32>(), 0..8)),
            0..6,
        ),
        user_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
    ) {
        let mut bytes = version.to_be_bytes().to_vec();
        bytes.extend((topics.len() as i32).to_be_bytes());
        for (topic, partitions) in &topics {
            bytes.extend((topic.len() as i16).to_be_bytes());
            bytes.extend(topic.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        match &user_data {
            None => bytes.extend((-1i32).to_be_bytes()),
            Some(data) => {
                bytes.extend((data.len() as i32).to_be_bytes());
                bytes.extend(data);
            }
        }
        let mut expected: Vec<(String, i32)> = topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect();
        expected.sort();
        expected.dedup();
        prop_assert_eq!(decode_assignment(&bytes), Ok(expected));
    }

    #[test]
    fn any_assignment_bytes_decode_or_fail(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(pairs) = decode_assignment(&bytes) {
            prop_assert!(pairs.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
