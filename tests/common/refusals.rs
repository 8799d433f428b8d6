//! Scenario-file fixtures for the bad-input tests: a base scenario, edits of it, and checks that
//! a refusal names the file, the key, the line and what would be accepted.

use secretome::problem::Problem;
use secretome::scenario;

/// A base scenario text and the file name its messages use.
pub struct Fixture {
    pub file: &'static str,
    pub base: &'static str,
}

/// Line (from 1) of the first occurrence of `needle` in `text`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in text"));
    text[..at].matches('\n').count() + 1
}

impl Fixture {
    /// The base with `from` replaced by `to` (which must occur exactly once).
    pub fn edit(&self, from: &str, to: &str) -> String {
        assert_eq!(self.base.matches(from).count(), 1, "`{from}` must occur once in the base scenario");
        self.base.replace(from, to)
    }

    /// The base with `more` appended.
    pub fn with(&self, more: &str) -> String {
        format!("{}\n{more}", self.base)
    }

    /// Loads `text` (no memory limit), panicking with the message if it is refused.
    pub fn load(&self, text: &str) -> Problem {
        scenario::from_str_with_memory(text, self.file, Some(u64::MAX)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Loads `text`, expects a refusal whose message contains the file, `key` and every
    /// `also`; returns the message.
    pub fn refused(&self, text: &str, key: &str, also: &[&str]) -> String {
        let err = scenario::from_str_with_memory(text, self.file, Some(u64::MAX))
            .err()
            .unwrap_or_else(|| panic!("accepted, expected a refusal naming `{key}`"));
        let msg = err.to_string();
        assert!(msg.contains(self.file), "no file name in: {msg}");
        assert!(msg.contains(&format!("`{key}`")), "no key `{key}` in: {msg}");
        for a in also {
            assert!(msg.contains(a), "no `{a}` in: {msg}");
        }
        msg
    }

    /// As [`Fixture::refused`], also checking that the message gives the line of `at` (its
    /// first occurrence).
    pub fn refused_on_line(&self, text: &str, key: &str, at: &str, also: &[&str]) -> String {
        let line = format!("{}:{}", self.file, line_of(text, at));
        let mut all = vec![line.as_str()];
        all.extend_from_slice(also);
        self.refused(text, key, &all)
    }

    /// As [`Fixture::refused_on_line`], also checking that the message says what is accepted.
    pub fn refused_at(&self, text: &str, key: &str, at: &str, also: &[&str]) -> String {
        let mut all = vec!["accepted:"];
        all.extend_from_slice(also);
        self.refused_on_line(text, key, at, &all)
    }
}
