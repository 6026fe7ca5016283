//! The inverted index: label pair → sorted postings (series references), and the evaluation
//! of matcher sets over it. Series references grow monotonically and are never reused, so
//! postings stay sorted by pushing.

use std::collections::HashMap;

use crate::labels::{Labels, MatchKind, Matcher};

/// A series' number in the index.
pub type SeriesRef = u64;

/// Label pairs to postings.
#[derive(Debug, Default)]
pub struct Index {
    /// name → value → refs (sorted).
    postings: HashMap<String, HashMap<String, Vec<SeriesRef>>>,
    /// Every live ref (sorted).
    all: Vec<SeriesRef>,
}

fn remove_sorted(v: &mut Vec<SeriesRef>, r: SeriesRef) {
    if let Ok(i) = v.binary_search(&r) {
        v.remove(i);
    }
}

impl Index {
    /// Adds series `r` (greater than every ref added before).
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        self.all.push(r);
        for (n, v) in labels.pairs() {
            // Look up first: the pair's strings are allocated only the first time it is seen.
            let values = match self.postings.get_mut(n) {
                Some(values) => values,
                None => self.postings.entry(n.to_owned()).or_default(),
            };
            match values.get_mut(v) {
                Some(p) => p.push(r),
                None => {
                    values.insert(v.to_owned(), vec![r]);
                }
            }
        }
    }

    /// Removes series `r`.
    pub fn remove(&mut self, r: SeriesRef, labels: &Labels) {
        remove_sorted(&mut self.all, r);
        for (n, v) in labels.pairs() {
            let Some(values) = self.postings.get_mut(n) else {
                continue;
            };
            if let Some(p) = values.get_mut(v) {
                remove_sorted(p, r);
                if p.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                self.postings.remove(n);
            }
        }
    }

    /// Number of distinct label pairs.
    pub fn pairs(&self) -> usize {
        self.postings.values().map(HashMap::len).sum()
    }

    /// Refs of the series whose `name` value (empty when absent) satisfies `m`.
    fn postings_for(&self, m: &Matcher) -> Vec<SeriesRef> {
        let values = self.postings.get(&m.name);
        if m.matches("") {
            // Everything except the series whose value does not match.
            let mut excluded: Vec<SeriesRef> = values
                .into_iter()
                .flatten()
                .filter(|(v, _)| !m.matches(v))
                .flat_map(|(_, p)| p.iter().copied())
                .collect();
            excluded.sort_unstable();
            difference(&self.all, &excluded)
        } else {
            let mut hit: Vec<SeriesRef> = match (m.kind, values) {
                (MatchKind::Equal, Some(vals)) => vals.get(&m.value).cloned().unwrap_or_default(),
                (_, Some(vals)) => vals
                    .iter()
                    .filter(|(v, _)| m.matches(v))
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect(),
                (_, None) => Vec::new(),
            };
            hit.sort_unstable();
            hit
        }
    }

    /// Refs of the series matching every matcher (all series for none), sorted.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        // Cheapest first: equality matchers narrow the most.
        let mut order: Vec<&Matcher> = matchers.iter().collect();
        order.sort_by_key(|m| !matches!(m.kind, MatchKind::Equal));
        let mut acc: Option<Vec<SeriesRef>> = None;
        for m in order {
            let p = self.postings_for(m);
            acc = Some(match acc {
                None => p,
                Some(a) => intersect(&a, &p),
            });
            if acc.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        acc.unwrap_or_else(|| self.all.clone())
    }
}

fn intersect(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn difference(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len().saturating_sub(b.len()));
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    fn m(k: MatchKind, n: &str, v: &str) -> Matcher {
        Matcher::new(k, n, v).unwrap()
    }

    #[test]
    fn selects_like_prometheus() {
        let mut ix = Index::default();
        let s1 = l(&[("__name__", "up"), ("node", "a"), ("rack", "r1")]);
        let s2 = l(&[("__name__", "up"), ("node", "b")]);
        let s3 = l(&[("__name__", "cpu"), ("node", "a"), ("rack", "r2")]);
        ix.add(1, &s1);
        ix.add(2, &s2);
        ix.add(3, &s3);
        use MatchKind::*;
        assert_eq!(ix.select(&[m(Equal, "__name__", "up")]), vec![1, 2]);
        assert_eq!(ix.select(&[m(Equal, "rack", "")]), vec![2]);
        assert_eq!(ix.select(&[m(NotEqual, "rack", "")]), vec![1, 3]);
        assert_eq!(ix.select(&[m(NotEqual, "rack", "r1")]), vec![2, 3]);
        assert_eq!(ix.select(&[m(Regex, "rack", "r.*")]), vec![1, 3]);
        assert_eq!(ix.select(&[m(Regex, "rack", "r1|")]), vec![1, 2]);
        assert_eq!(ix.select(&[m(NotRegex, "rack", "r1")]), vec![2, 3]);
        assert_eq!(ix.select(&[m(NotRegex, "rack", ".*")]), Vec::<u64>::new());
        assert_eq!(
            ix.select(&[m(Equal, "node", "a"), m(Regex, "__name__", "u.")]),
            vec![1]
        );
        assert_eq!(ix.select(&[]), vec![1, 2, 3]);
        ix.remove(1, &s1);
        assert_eq!(ix.select(&[m(Equal, "rack", "r1")]), Vec::<u64>::new());
        assert_eq!(ix.pairs(), 5);
    }
}
