//! Series labels and label matchers: the vocabulary that the TSDB, the node store and
//! remote-read share (a leaf: it imports none of them, as Prometheus' `model/labels`).
//!
//! Matchers have Prometheus semantics: `=`, `!=`, `=~`, `!~`; regexes are fully anchored
//! (`^(?:re)$`, as Prometheus 2.x compiles them) and run in linear time (the `regex` crate has
//! no backtracking); a missing label matches as the empty value.

use regex::{Regex, RegexBuilder};

/// A series as stored: label pairs sorted by name, `node` stamped by the aggregator, packed
/// into one shared string (the agent's representation: one allocation per series held).
pub use hvscope_common::labels::Labels;

/// Compiled regex program size limit: a pathological pattern is refused, not run.
const REGEX_SIZE_LIMIT_BYTES: usize = 1 << 20;
/// Longest pattern accepted.
const REGEX_MAX_LEN: usize = 16 << 10;

/// The four matcher kinds (numbered as in Prometheus' `LabelMatcher.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A matcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("regex for label {name:?} is {len} bytes, over the {REGEX_MAX_LEN}-byte limit")]
    TooLong { name: String, len: usize },
    #[error("bad regex for label {name:?}: {source}")]
    Regex {
        name: String,
        #[source]
        source: regex::Error,
    },
}

/// One compiled matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub kind: MatchKind,
    pub name: String,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regexes are anchored and size-limited.
    pub fn new(kind: MatchKind, name: &str, value: &str) -> Result<Self, MatcherError> {
        let re = match kind {
            MatchKind::Regex | MatchKind::NotRegex => {
                if value.len() > REGEX_MAX_LEN {
                    return Err(MatcherError::TooLong {
                        name: name.to_owned(),
                        len: value.len(),
                    });
                }
                let re = RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT_BYTES)
                    .dfa_size_limit(REGEX_SIZE_LIMIT_BYTES)
                    .build()
                    .map_err(|source| MatcherError::Regex {
                        name: name.to_owned(),
                        source,
                    })?;
                Some(re)
            }
            _ => None,
        };
        Ok(Self {
            kind,
            name: name.to_owned(),
            value: value.to_owned(),
            re,
        })
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match (self.kind, &self.re) {
            (MatchKind::Equal, _) => v == self.value,
            (MatchKind::NotEqual, _) => v != self.value,
            (MatchKind::Regex, Some(re)) => re.is_match(v),
            (MatchKind::NotRegex, Some(re)) => !re.is_match(v),
            // A regex kind always carries its program (see `new`).
            (MatchKind::Regex | MatchKind::NotRegex, None) => false,
        }
    }

    /// Whether a series' label set matches.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: MatchKind, v: &str) -> Matcher {
        Matcher::new(kind, "job", v).unwrap()
    }

    #[test]
    fn prometheus_semantics() {
        assert!(m(MatchKind::Equal, "a").matches("a"));
        assert!(!m(MatchKind::Equal, "a").matches("ab"));
        assert!(m(MatchKind::Equal, "").matches(""));
        assert!(m(MatchKind::NotEqual, "").matches("x"));
        // fully anchored
        assert!(m(MatchKind::Regex, "a.").matches("ab"));
        assert!(!m(MatchKind::Regex, "a.").matches("xab"));
        assert!(!m(MatchKind::Regex, "a|b").matches("ab"));
        assert!(m(MatchKind::Regex, "a|b").matches("b"));
        assert!(m(MatchKind::Regex, ".*").matches(""));
        assert!(!m(MatchKind::NotRegex, "a.*").matches("abc"));
        assert!(m(MatchKind::NotRegex, "a.*").matches(""));
        let labels = Labels::from_pairs(&[("node", "n1")]);
        assert!(m(MatchKind::Equal, "").matches_labels(&labels));
        assert!(!m(MatchKind::Regex, ".+").matches_labels(&labels));
    }

    #[test]
    fn pathological_regexes_are_bounded() {
        // exponential for a backtracking engine, linear here
        let re = m(MatchKind::Regex, "(a+)+$");
        let s = format!("{}b", "a".repeat(10_000));
        let start = std::time::Instant::now();
        assert!(!re.matches(&s));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        // a program over the size limit is refused
        let e = Matcher::new(MatchKind::Regex, "x", "((a{100}){100}){100}").unwrap_err();
        assert!(e.to_string().contains("bad regex"), "{e}");
        let e = Matcher::new(MatchKind::Regex, "x", &"a".repeat(20_000)).unwrap_err();
        assert!(matches!(e, MatcherError::TooLong { .. }));
        assert!(Matcher::new(MatchKind::NotRegex, "x", "(").is_err());
    }
}
