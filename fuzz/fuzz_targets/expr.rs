//! The expression language of constraints, affinities and whitelist entries
//! (`shoal_scheduler::Expr`).
//!
//! Input: `EXPRESSION\0SUBJECT\0SUBJECT...` (UTF-8). Checked:
//! - parsing never panics, with or without the regex cache, and both agree;
//! - a parsed expression prints back (`Display`) to text that parses to the
//!   same key, operator, value and softness;
//! - the value's matcher agrees with the definition in the module docs: a
//!   `/REGEX/` is the unanchored regex, anything else the anchored regex made
//!   by replacing `*` with `.*` (the hand-written wildcard matcher included);
//! - `matches` is "any subject matches" for `==` and "none" for `!=`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use regex::Regex;
use shoal_scheduler::{Expr, Operator, RegexCache};

static CACHE: LazyLock<RegexCache> = LazyLock::new(RegexCache::default);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or_default();
    let subjects: Vec<&str> = parts.collect();

    let plain = Expr::parse(source);
    let cached = Expr::parse_cached(source, &CACHE);
    let expr = match (plain, cached) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (a.key(), a.operator(), a.value(), a.is_soft()),
                (b.key(), b.operator(), b.value(), b.is_soft())
            );
            a
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            let _ = a.to_string();
            return;
        }
        (a, b) => panic!("cached and plain parses disagree on {source:?}: {a:?} vs {b:?}"),
    };

    let printed = expr.to_string();
    let again = Expr::parse(&printed)
        .unwrap_or_else(|e| panic!("{source:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(
        (expr.key(), expr.operator(), expr.value(), expr.is_soft()),
        (
            again.key(),
            again.operator(),
            again.value(),
            again.is_soft()
        ),
        "{source:?} printed as {printed:?}"
    );
    assert_eq!(expr.key(), expr.key().to_ascii_lowercase());
    let _ = expr.condition();

    let value = expr.value();
    let reference = if value.len() >= 2 && value.starts_with('/') && value.ends_with('/') {
        Regex::new(&value[1..value.len() - 1])
    } else {
        Regex::new(&format!("^{}$", value.replace('*', ".*")))
    };
    let reference = reference
        .unwrap_or_else(|e| panic!("{source:?} parsed but its reference regex does not: {e}"));
    for subject in &subjects {
        assert_eq!(
            expr.pattern_matches(subject),
            reference.is_match(subject),
            "{source:?} on {subject:?}"
        );
    }
    let any = subjects.iter().any(|s| reference.is_match(s));
    let want = match expr.operator() {
        Operator::Eq => any,
        Operator::NotEq => !any,
    };
    assert_eq!(expr.matches(subjects.iter().copied()), want, "{source:?}");
    if let Some(plain) = expr.plain_value() {
        assert_eq!(plain, value);
    }
});
