//! Loading scenario text and checking refusals: the message names the file, the key (and line)
//! and what would be accepted.

use secretome::problem::Problem;
use secretome::scenario;

/// Line (from 1) of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in text"));
    text[..at].matches('\n').count() + 1
}

/// Loads scenario `text` named `file` (no memory check); panics with the message on a refusal.
pub fn load(text: &str, file: &str) -> Problem {
    scenario::from_str_with_memory(text, file, Some(u64::MAX)).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads `text` named `file`, expects a refusal whose message contains the file, `` `key` ``,
/// "accepted:" and every `also`; returns the message.
pub fn refused(text: &str, file: &str, key: &str, also: &[&str]) -> String {
    let err = scenario::from_str_with_memory(text, file, Some(u64::MAX))
        .err()
        .unwrap_or_else(|| panic!("accepted, expected a refusal naming `{key}`"));
    let msg = err.to_string();
    assert!(msg.contains(file), "no file name in: {msg}");
    assert!(msg.contains(&format!("`{key}`")), "no key `{key}` in: {msg}");
    assert!(msg.contains("accepted:"), "no `accepted:` in: {msg}");
    for a in also {
        assert!(msg.contains(a), "no `{a}` in: {msg}");
    }
    msg
}

/// As [`refused`], also checking the message gives the line of `at` (its first occurrence).
pub fn refused_at(text: &str, file: &str, key: &str, at: &str, also: &[&str]) -> String {
    let line = format!("{file}:{}:", line_of(text, at));
    let mut all = vec![line.as_str()];
    all.extend_from_slice(also);
    refused(text, file, key, &all)
}
