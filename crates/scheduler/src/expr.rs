//! Expressions of constraints, affinities and whitelist entries:
//! `KEY==VALUE` and `KEY!=VALUE`.
//!
//! - A key is 2 or more characters matching `^[a-z_][a-z0-9-_.]+$`,
//!   case-insensitive. `node`, `container` and `image` are recognised in any
//!   case; a label is looked up under the lower-cased key (as classic Swarm
//!   did), else under the key as written.
//! - A leading `~` in the value makes the expression soft: when no node
//!   satisfies the request, the scheduler tries again without soft
//!   expressions.
//! - `/REGEX/` is an unanchored regular expression.
//! - Anything else is a glob anchored at both ends, where `*` is any run of
//!   characters. As in classic Swarm, the glob is turned into a regular
//!   expression by replacing `*` with `.*`, so the other regular-expression
//!   characters keep their meaning: `.` is any one character, and
//!   `a|b` means `^a` or `b$`.
//!
//! Matching is case-sensitive. Patterns are compiled once, when the
//! expression is parsed: plain values compare as strings, globs made of
//! literal characters, `*` and `.` run on a small matcher of their own (no
//! regex engine, no allocation), and only values with other
//! regular-expression characters go to the `regex` crate.
//!
//! Better than classic Swarm: a pattern that does not compile is refused when
//! the expression is parsed (classic Swarm logged it and matched nothing).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use regex::Regex;

use crate::error::ExprError;
use crate::node::Labels;

/// The operator of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `==`: the key's value matches.
    Eq,
    /// `!=`: the key's value does not match.
    NotEq,
}

impl Operator {
    /// `==` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::NotEq => "!=",
        }
    }
}

/// A parsed and compiled expression.
#[derive(Debug, Clone)]
pub struct Expr {
    key: String,
    /// The key as written, when it differs from `key` (upper-case letters).
    written_key: Option<String>,
    operator: Operator,
    value: String,
    soft: bool,
    pattern: Pattern,
}

/// A compiled value.
#[derive(Debug, Clone)]
enum Pattern {
    /// No pattern characters at all: string equality.
    Exact(String),
    /// Literal characters, `*` and `.` only.
    Wildcard(Vec<Token>),
    /// Anything else, through the regex engine. Shared, not cloned: a
    /// clone of a `Regex` starts with empty match caches, and building
    /// them again costs more than filtering a thousand nodes.
    Regex(Arc<Regex>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// One ASCII byte, literally.
    Byte(u8),
    /// `.`: any one character but a newline.
    AnyChar,
    /// `*` (`.*`): any run of characters without a newline.
    AnyRun,
}

impl Expr {
    /// Parses `KEY==VALUE` or `KEY!=VALUE` (with `~` and `/regex/` in the
    /// value as described in the module documentation).
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        Self::parse_inner(text, None)
    }

    /// [`Expr::parse`], taking compiled regular expressions from `cache`
    /// (and adding new ones to it).
    pub fn parse_cached(text: &str, cache: &RegexCache) -> Result<Expr, ExprError> {
        Self::parse_inner(text, Some(cache))
    }

    fn parse_inner(text: &str, cache: Option<&RegexCache>) -> Result<Expr, ExprError> {
        // `==` is looked for first, as in classic Swarm: `a!==b` has key `a!`.
        let (operator, (key, raw_value)) = if let Some(parts) = text.split_once("==") {
            (Operator::Eq, parts)
        } else if let Some(parts) = text.split_once("!=") {
            (Operator::NotEq, parts)
        } else {
            return Err(ExprError::MissingOperator);
        };
        if !valid_key(key) {
            return Err(ExprError::InvalidKey(key.to_string()));
        }
        if !valid_value(raw_value) {
            return Err(ExprError::InvalidValue(raw_value.to_string()));
        }
        let soft = raw_value.starts_with('~');
        let value = raw_value.trim_start_matches('~');
        let pattern = Pattern::compile(value, cache)?;
        let lower = key.to_ascii_lowercase();
        let written_key = (lower != key).then(|| key.to_string());
        Ok(Expr {
            key: lower,
            written_key,
            operator,
            value: value.to_string(),
            soft,
            pattern,
        })
    }

    /// The key, lower-cased.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value of this expression's key in `labels`: under the lower-cased
    /// key, as classic Swarm looked it up, or else under the key as written
    /// (so `Region==us` also finds a label `Region`).
    pub fn label_in<'a>(&self, labels: &'a Labels) -> Option<&'a str> {
        self.label_by(|key| labels.get(key).map(String::as_str))
    }

    /// [`Expr::label_in`] over labels read by `get`.
    pub fn label_by<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> Option<&'a str> {
        get(&self.key).or_else(|| self.written_key.as_deref().and_then(get))
    }

    /// The key as written, when it has upper-case letters.
    pub(crate) fn written_key(&self) -> Option<&str> {
        self.written_key.as_deref()
    }

    /// Whether the key was written with upper-case letters.
    pub fn has_written_key(&self) -> bool {
        self.written_key.is_some()
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The value, without the soft marker `~`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the expression is soft (`~`).
    pub fn is_soft(&self) -> bool {
        self.soft
    }

    /// Whether the value's pattern matches `what` (the operator aside).
    pub fn pattern_matches(&self, what: &str) -> bool {
        self.pattern.is_match(what)
    }

    /// Applies the expression to the values a node offers for its key: `==`
    /// holds when the pattern matches any of them, `!=` when it matches none.
    pub fn matches<'a>(&self, whats: impl IntoIterator<Item = &'a str>) -> bool {
        self.holds(whats.into_iter().any(|what| self.pattern.is_match(what)))
    }

    /// Applies the operator to whether the pattern matched anything.
    pub fn holds(&self, matched: bool) -> bool {
        match self.operator {
            Operator::Eq => matched,
            Operator::NotEq => !matched,
        }
    }

    /// The value when it is plain text (no glob or regular-expression
    /// character), which then compares as a string.
    pub fn plain_value(&self) -> Option<&str> {
        match &self.pattern {
            Pattern::Exact(value) => Some(value),
            _ => None,
        }
    }

    /// What every string the pattern matches starts with: the whole value
    /// when plain, the characters before the first `*` or `.` of a glob,
    /// nothing for a regular expression.
    pub(crate) fn literal_prefix(&self) -> Vec<u8> {
        match &self.pattern {
            Pattern::Exact(value) => value.as_bytes().to_vec(),
            Pattern::Wildcard(tokens) => tokens
                .iter()
                .map_while(|t| match t {
                    Token::Byte(b) => Some(*b),
                    _ => None,
                })
                .collect(),
            Pattern::Regex(_) => Vec::new(),
        }
    }

    /// `KEY==VALUE` without the soft marker: the form classic Swarm listed in
    /// its "Unable to find a node" errors.
    pub fn condition(&self) -> String {
        format!("{}{}{}", self.key, self.operator.as_str(), self.value)
    }
}

/// `KEY==VALUE`, with `~` before the value of a soft expression.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let soft = if self.soft { "~" } else { "" };
        write!(
            f,
            "{}{}{}{}",
            self.key,
            self.operator.as_str(),
            soft,
            self.value
        )
    }
}

/// `^[a-z_][a-z0-9-_.]+$`, case-insensitive.
fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.len() >= 2
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes[1..]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Classic Swarm's value syntax,
/// `^[=!/]?(~)?[a-z0-9:\-_\s.*/()?+\[\]\\^$|]+$` (case-insensitive, `\s`
/// being ASCII whitespace).
fn valid_value(value: &str) -> bool {
    fn body(s: &str) -> bool {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b':' | b'-'
                            | b'_'
                            | b' '
                            | b'\t'
                            | b'\n'
                            | b'\r'
                            | b'\x0c'
                            | b'.'
                            | b'*'
                            | b'/'
                            | b'('
                            | b')'
                            | b'?'
                            | b'+'
                            | b'['
                            | b']'
                            | b'\\'
                            | b'^'
                            | b'$'
                            | b'|'
                    )
            })
    }
    fn soft_body(s: &str) -> bool {
        body(s) || s.strip_prefix('~').is_some_and(body)
    }
    soft_body(value) || value.strip_prefix(['=', '!', '/']).is_some_and(soft_body)
}

impl Pattern {
    fn compile(value: &str, cache: Option<&RegexCache>) -> Result<Pattern, ExprError> {
        let regex = |pattern: &str| {
            let compiled = match cache {
                Some(cache) => cache.shared(pattern),
                None => Regex::new(pattern).map(Arc::new),
            };
            compiled
                .map(Pattern::Regex)
                .map_err(|err| ExprError::InvalidPattern {
                    value: value.to_string(),
                    reason: err.to_string(),
                })
        };
        if value.len() >= 2 && value.starts_with('/') && value.ends_with('/') {
            return regex(&value[1..value.len() - 1]);
        }
        let is_meta = |b: u8| {
            matches!(
                b,
                b'\\' | b'(' | b')' | b'?' | b'+' | b'[' | b']' | b'^' | b'$' | b'|' | b'{' | b'}'
            )
        };
        if value.bytes().any(is_meta) || !value.is_ascii() {
            return regex(&format!("^{}$", value.replace('*', ".*")));
        }
        if !value.bytes().any(|b| b == b'*' || b == b'.') {
            return Ok(Pattern::Exact(value.to_string()));
        }
        let tokens = value
            .bytes()
            .map(|b| match b {
                b'*' => Token::AnyRun,
                b'.' => Token::AnyChar,
                b => Token::Byte(b),
            })
            .collect();
        Ok(Pattern::Wildcard(tokens))
    }

    fn is_match(&self, what: &str) -> bool {
        match self {
            Pattern::Exact(value) => value == what,
            Pattern::Wildcard(tokens) => wildcard_match(tokens, what.as_bytes()),
            Pattern::Regex(regex) => regex.is_match(what),
        }
    }
}

/// Compiled regular expressions kept from one placement to the next:
/// compiling one costs tens of microseconds, more than filtering a thousand
/// nodes, and users repeat the same expressions. Bounded: emptied when full.
#[derive(Debug, Default)]
pub struct RegexCache {
    compiled: Mutex<HashMap<String, Arc<Regex>>>,
}

impl RegexCache {
    /// How many regular expressions the cache holds at most.
    pub const CAPACITY: usize = 256;

    /// The compiled `pattern`, from the cache or compiled now.
    pub fn get_or_compile(&self, pattern: &str) -> Result<Regex, regex::Error> {
        self.shared(pattern).map(|regex| Regex::clone(&regex))
    }

    /// [`RegexCache::get_or_compile`], shared with the cache (and with its
    /// match caches, warm from earlier placements).
    pub(crate) fn shared(&self, pattern: &str) -> Result<Arc<Regex>, regex::Error> {
        let mut compiled = self
            .compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(regex) = compiled.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = Arc::new(Regex::new(pattern)?);
        if compiled.len() >= Self::CAPACITY {
            compiled.clear();
        }
        compiled.insert(pattern.to_string(), regex.clone());
        Ok(regex)
    }

    /// How many regular expressions it holds.
    pub fn len(&self) -> usize {
        self.compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Length in bytes of the UTF-8 character that starts with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Matches `text` (valid UTF-8) against the whole of `tokens`: greedy with
/// backtracking to the last `*`, linear for patterns with at most one `*` and
/// at worst O(text * tokens).
fn wildcard_match(tokens: &[Token], text: &[u8]) -> bool {
    let (mut t, mut s) = (0usize, 0usize);
    // After the last `*` seen: the token after it and where its run ends.
    let mut backtrack: Option<(usize, usize)> = None;
    while s < text.len() {
        match tokens.get(t) {
            Some(Token::AnyRun) => {
                backtrack = Some((t + 1, s));
                t += 1;
                continue;
            }
            Some(Token::Byte(b)) if text[s] == *b => {
                t += 1;
                s += 1;
                continue;
            }
            Some(Token::AnyChar) if text[s] != b'\n' => {
                t += 1;
                s += char_len(text[s]);
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last `*` take one more character, if it can.
        match backtrack {
            Some((after, run_end)) if text[run_end] != b'\n' => {
                let run_end = run_end + char_len(text[run_end]);
                backtrack = Some((after, run_end));
                t = after;
                s = run_end;
            }
            _ => return false,
        }
    }
    tokens[t..].iter().all(|token| *token == Token::AnyRun)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Expr {
        Expr::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn parses_operators_keys_and_values() {
        let e = parse("Region==us-east");
        assert_eq!(
            (e.key(), e.operator(), e.value(), e.is_soft()),
            ("region", Operator::Eq, "us-east", false)
        );
        let e = parse("node!=~node-1");
        assert_eq!(
            (e.key(), e.operator(), e.value(), e.is_soft()),
            ("node", Operator::NotEq, "node-1", true)
        );
        assert_eq!(e.to_string(), "node!=~node-1");
        assert_eq!(e.condition(), "node!=node-1");
    }

    #[test]
    fn refuses_bad_expressions() {
        assert_eq!(
            Expr::parse("region=us").unwrap_err(),
            ExprError::MissingOperator
        );
        assert_eq!(
            Expr::parse("r==us").unwrap_err(),
            ExprError::InvalidKey("r".into())
        );
        assert_eq!(
            Expr::parse("1region==us").unwrap_err(),
            ExprError::InvalidKey("1region".into())
        );
        assert_eq!(
            Expr::parse("==us").unwrap_err(),
            ExprError::InvalidKey("".into())
        );
        assert_eq!(
            Expr::parse("region==").unwrap_err(),
            ExprError::InvalidValue("".into())
        );
        assert_eq!(
            Expr::parse("region==us,east").unwrap_err(),
            ExprError::InvalidValue("us,east".into())
        );
        assert!(matches!(
            Expr::parse("region==/(/").unwrap_err(),
            ExprError::InvalidPattern { .. }
        ));
    }

    #[test]
    fn globs_are_anchored_and_regexes_are_not() {
        let e = parse("kernel==3.*");
        assert!(e.matches(["3.16.0"]));
        assert!(!e.matches(["13.16.0"]));
        let e = parse("kernel==/3\\.16/");
        assert!(e.matches(["13.16.0-amd64"]));
        let e = parse("name==node");
        assert!(e.matches(["node"]));
        assert!(!e.matches(["node-1"]));
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(parse("kk==api-*").literal_prefix(), b"api-");
        assert_eq!(parse("kk==a.c*").literal_prefix(), b"a");
        assert_eq!(parse("kk==*x").literal_prefix(), b"");
        assert_eq!(parse("kk==web").literal_prefix(), b"web");
        assert_eq!(parse("kk==/^api/").literal_prefix(), b"");
        assert_eq!(parse("kk==ap(i)").literal_prefix(), b"");
    }

    #[test]
    fn not_equal_holds_when_nothing_matches() {
        let e = parse("node!=n*");
        assert!(e.matches(["x", "y"]));
        assert!(!e.matches(["x", "n1"]));
        assert!(e.matches([]));
    }

    #[test]
    fn wildcard_matcher_handles_dots_stars_and_unicode() {
        let e = parse("name==a.c*");
        assert!(e.matches(["abc"]));
        assert!(e.matches(["a€cdef"]));
        assert!(!e.matches(["ac"]));
        assert!(!e.matches(["a\ncd"]));
        let e = parse("name==*b*b");
        assert!(e.matches(["abxbb"]));
        assert!(!e.matches(["abxba"]));
        assert!(parse("name==*").matches([""]));
    }

    #[test]
    fn value_syntax_follows_classic_swarm() {
        for ok in [
            "a",
            "~a",
            "=a",
            "!a",
            "/a/",
            "=~a",
            "a b",
            "a:b",
            "1.2.3",
            "^a$",
            "a|b",
            "(a)?+[b]\\",
            "A-Z_",
        ] {
            assert!(Expr::parse(&format!("key=={ok}")).is_ok(), "{ok}");
        }
        for bad in ["", "~", "~~a", "a,b", "a@b", "é", "a~", "==a", "{1}", "a=b"] {
            assert!(Expr::parse(&format!("key=={bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn soft_marker_and_leading_operator_characters() {
        // `key===a` has value `=a` (classic Swarm allowed a leading `=`): a
        // glob matching "=a".
        let e = parse("key===a");
        assert_eq!(e.value(), "=a");
        assert!(e.matches(["=a"]));
        // `~` is only a soft marker in front.
        let e = parse("key==!~a");
        assert!(!e.is_soft());
        assert_eq!(e.value(), "!~a");
    }

    #[test]
    fn globs_keep_regex_characters_as_classic_swarm_did() {
        // `.` is any character, `|` splits the anchored pattern in two.
        assert!(parse("vv==1.2").matches(["1x2"]));
        let e = parse("vv==ab|cd");
        assert!(e.matches(["abzzz"]) && e.matches(["zzcd"]) && !e.matches(["zabz"]));
        assert!(parse("vv==a+").matches(["aaa"]));
        assert!(parse("vv==a?b").matches(["b"]));
    }

    #[test]
    fn lone_slash_is_not_a_regex() {
        let e = parse("vv==/");
        assert!(e.matches(["/"]));
        assert!(!e.matches(["x"]));
        // `//` is the empty regex: it matches everything.
        assert!(parse("vv==//").matches(["anything"]));
    }

    #[test]
    fn regex_cache_compiles_once_and_stays_bounded() {
        let cache = RegexCache::default();
        let a = Expr::parse_cached("kk==/^a+$/", &cache).unwrap();
        let b = Expr::parse_cached("kk!=/^a+$/", &cache).unwrap();
        assert_eq!(cache.len(), 1);
        assert!(a.matches(["aaa"]) && !b.matches(["aaa"]));
        // Globs with regex characters are cached too; plain values and
        // wildcards never reach the regex engine.
        Expr::parse_cached("kk==a|b", &cache).unwrap();
        Expr::parse_cached("kk==a.b*", &cache).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(Expr::parse_cached("kk==/(/", &cache).is_err());
        for i in 0..RegexCache::CAPACITY + 5 {
            cache.get_or_compile(&format!("^{i}$")).unwrap();
        }
        assert!(cache.len() <= RegexCache::CAPACITY);
    }

    #[test]
    fn keys_syntax() {
        for ok in [
            "ab",
            "_x",
            "a.b-c_d",
            "Node",
            "com.docker.compose.service",
            "A1",
        ] {
            assert!(Expr::parse(&format!("{ok}==v")).is_ok(), "{ok}");
        }
        for bad in ["a", "1a", "-a", ".a", "a b", "a/b", "é1", "a!"] {
            assert_eq!(
                Expr::parse(&format!("{bad}==v")).unwrap_err(),
                ExprError::InvalidKey(bad.into()),
                "{bad}"
            );
        }
        // `==` wins over `!=`: `a!==b` has key `a!`.
        assert_eq!(
            Expr::parse("ab!==c").unwrap_err(),
            ExprError::InvalidKey("ab!".into())
        );
    }
}
