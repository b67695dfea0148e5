//! Errors of the scheduler. The texts of [`ScheduleError`] are those classic
//! Swarm returned to the docker CLI; the manager sends them as JSON errors.

use thiserror::Error;

/// Why a placement failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// The `health` filter left no node.
    #[error("No healthy node available in the cluster")]
    NoHealthyNode,
    /// A filter left no node. `conditions` lists, one `\n[...]` group per
    /// filter up to the one that failed, the conditions of the request.
    #[error("Unable to find a node that satisfies the following conditions {conditions}")]
    Unsatisfied {
        /// `\n[cond, cond]\n[cond]...`, as classic Swarm printed them.
        conditions: String,
    },
    /// Every node left by the filters is too small or too full.
    #[error("no resources available to schedule container")]
    NoResources,
    /// There was no node at all (and no `health` filter to say so).
    #[error("No nodes available in the cluster")]
    NoNodes,
    /// A constraint or affinity of the request does not parse.
    #[error("invalid {kind} {text:?}: {source}")]
    InvalidExpression {
        /// `constraint` or `affinity`.
        kind: &'static str,
        /// The expression as given.
        text: String,
        /// What is wrong with it.
        source: ExprError,
    },
}

/// Why an expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExprError {
    /// Neither `==` nor `!=` in the expression.
    #[error("one of the operators ==, != is expected")]
    MissingOperator,
    /// The key breaks the key syntax.
    #[error("key {0:?} is invalid: a key is 2 or more characters matching ^[a-z_][a-z0-9-_.]+$ (case-insensitive)")]
    InvalidKey(String),
    /// The value has characters outside the allowed set, or is empty.
    #[error("value {0:?} is invalid: a value is letters, digits, whitespace and : - _ . * / ( ) ? + [ ] \\ ^ $ |, with an optional leading ~ for a soft expression")]
    InvalidValue(String),
    /// The value is a `/regex/` (or a glob using regular-expression
    /// characters) that does not compile.
    #[error("value {value:?} is not a valid pattern: {reason}")]
    InvalidPattern {
        /// The value.
        value: String,
        /// The regex compiler's complaint.
        reason: String,
    },
}

/// Why the scheduler cannot be built from its settings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// `--filter` names a filter that does not exist.
    #[error("unknown filter {name:?}: valid filters are {valid}")]
    UnknownFilter {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// `--strategy` names a strategy that does not exist.
    #[error("unknown strategy {name:?}: valid strategies are {valid}")]
    UnknownStrategy {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// The same filter is listed twice.
    #[error("filter {0:?} is listed more than once")]
    DuplicateFilter(String),
    /// `swarm.overcommit` is not a number above -1.
    #[error("swarm.overcommit should be a number larger than -1, {0} is invalid")]
    InvalidOvercommit(String),
    /// A `swarm.whitelist` entry does not parse.
    #[error("invalid whitelist entry {text:?}: {source}")]
    InvalidWhitelist {
        /// The entry as given.
        text: String,
        /// What is wrong with it.
        source: ExprError,
    },
}

/// Why the scheduling hints of a container cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HintError {
    /// A `com.docker.swarm.*` label that is not a JSON array of strings.
    #[error("label {label} must be a JSON array of strings, got {value:?}: {reason}")]
    BadLabel {
        /// The label name.
        label: &'static str,
        /// Its value.
        value: String,
        /// The JSON parser's complaint.
        reason: String,
    },
    /// More than one reschedule policy.
    #[error("too many reschedule policies")]
    TooManyReschedulePolicies,
    /// A reschedule policy other than `off` and `on-node-failure`.
    #[error("invalid reschedule policy: {0}")]
    InvalidReschedulePolicy(String),
}
