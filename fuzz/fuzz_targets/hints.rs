//! Scheduling hints out of a create call: the `com.docker.swarm.*` label JSON
//! arrays and the `constraint:`/`affinity:`/`reschedule:` environment entries
//! (`shoal_scheduler::SchedulingHints`).
//!
//! Input: `\0`-separated entries (UTF-8). An entry `#N:TEXT` sets label N
//! (0 constraints, 1 affinities, 2 reschedule policies, else a plain label
//! `TEXT`'s key before `=`) to TEXT; any other entry is an environment entry.
//! Checked: never panics; an error exactly when a swarm label is not a JSON
//! array of strings (or null); the hint entries, and only they, leave the
//! environment, in order after the label's; the labels written back read to
//! the same hints.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_scheduler::request::{AFFINITIES_LABEL, CONSTRAINTS_LABEL, RESCHEDULE_POLICIES_LABEL};
use shoal_scheduler::{Labels, SchedulingHints};

const SWARM_LABELS: [&str; 3] = [
    CONSTRAINTS_LABEL,
    AFFINITIES_LABEL,
    RESCHEDULE_POLICIES_LABEL,
];
const ENV_KEYS: [&str; 3] = ["constraint", "affinity", "reschedule"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut env: Vec<String> = Vec::new();
    let mut labels = Labels::new();
    for entry in text.split('\0') {
        if let Some(rest) = entry.strip_prefix('#') {
            let (which, value) = rest.split_once(':').unwrap_or((rest, ""));
            match which
                .parse::<usize>()
                .ok()
                .and_then(|i| SWARM_LABELS.get(i))
            {
                Some(label) => labels.insert(label.to_string(), value.to_string()),
                None => {
                    let (k, v) = value.split_once('=').unwrap_or((value, ""));
                    labels.insert(k.to_string(), v.to_string())
                }
            };
        } else {
            env.push(entry.to_string());
        }
    }

    let from_label = |label: &str| -> Option<Vec<String>> {
        match labels.get(label) {
            None => Some(Vec::new()),
            Some(v) => serde_json::from_str::<Option<Vec<String>>>(v)
                .ok()
                .map(Option::unwrap_or_default),
        }
    };
    let expected_labels: Option<Vec<Vec<String>>> =
        SWARM_LABELS.iter().map(|l| from_label(l)).collect();

    let original_env = env.clone();
    let original_labels = labels.clone();
    let read_back = SchedulingHints::from_labels(&labels);
    let mut new_labels = labels.clone();
    let result = SchedulingHints::extract(&mut env, &mut new_labels);
    let Some(mut expected) = expected_labels else {
        assert!(
            result.is_err(),
            "a bad swarm label was accepted: {original_labels:?}"
        );
        assert!(read_back.is_err());
        let _ = result.unwrap_err().to_string();
        return;
    };
    let hints = result.unwrap_or_else(|e| panic!("good labels refused: {e}: {original_labels:?}"));
    assert!(read_back.is_ok());

    let mut kept = Vec::new();
    for entry in &original_env {
        match entry.split_once(':') {
            Some((key, value)) if ENV_KEYS.contains(&key) => {
                let i = ENV_KEYS.iter().position(|k| *k == key).unwrap_or_default();
                expected[i].push(value.to_string());
            }
            _ => kept.push(entry.clone()),
        }
    }
    assert_eq!(env, kept);
    assert_eq!(hints.constraints, expected[0]);
    assert_eq!(hints.affinities, expected[1]);
    assert_eq!(hints.reschedule_policies, expected[2]);
    for (k, v) in &original_labels {
        if !SWARM_LABELS.contains(&k.as_str()) {
            assert_eq!(new_labels.get(k), Some(v));
        }
    }
    let again = SchedulingHints::from_labels(&new_labels)
        .unwrap_or_else(|e| panic!("labels written back do not read: {e}: {new_labels:?}"));
    assert_eq!(again, hints);
    let _ = hints
        .validate_reschedule_policies()
        .map_err(|e| e.to_string());
});
