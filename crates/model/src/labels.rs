//! A label or annotation map: the few pairs an object carries, sorted by key, in one allocation.
//!
//! Objects carry a handful of labels, and a policy's selector one or two. A `BTreeMap` gives even a one-pair map a
//! node of room for eleven (368 bytes with shared strings); at tier L that was 65 MB of a 421 MB load. A sorted
//! vector holds exactly what is there, and a lookup in five pairs is a scan of one cache line or two. Keys and
//! values are shared strings: a cluster's pods repeat the same few, and the loader hands out one copy of each
//! (see [`crate::intern`]).
//!
//! The methods are the `BTreeMap` ones the code uses, with the same meaning: iteration is in key order, and
//! inserting a key that is there replaces its value.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::sync::Arc;

#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    /// Sorted by key, keys unique.
    pairs: Vec<(Arc<str>, Arc<str>)>,
}

impl Labels {
    pub fn new() -> Self {
        Labels::default()
    }

    /// A map with room for `pairs` pairs: a decoded map's size is known before its pairs are.
    pub fn with_capacity(pairs: usize) -> Self {
        Labels { pairs: Vec::with_capacity(pairs) }
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.pairs.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&Arc<str>> {
        self.position(key).ok().map(|at| &self.pairs[at].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Option<Arc<str>> {
        let (key, value) = (key.into(), value.into());
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.pairs[at].1, value)),
            Err(at) => {
                self.pairs.insert(at, (key, value));
                None
            }
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Arc<str>, &mut Arc<str>) -> bool) {
        self.pairs.retain_mut(|(key, value)| keep(key, value));
    }

    /// The pairs in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.pairs.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.pairs.iter().map(|(key, _)| key)
    }

    /// Drops the room a map grown pair by pair may have left.
    fn shrunk(mut self) -> Self {
        self.pairs.shrink_to_fit();
        self
    }
}

/// An iterator over a map's pairs in key order, as `BTreeMap::iter` yields them.
pub struct Iter<'a>(std::slice::Iter<'a, (Arc<str>, Arc<str>)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Arc<str>, &'a Arc<str>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(key, value)| (key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a Arc<str>, &'a Arc<str>);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Labels {
    type Item = (Arc<str>, Arc<str>);
    type IntoIter = std::vec::IntoIter<(Arc<str>, Arc<str>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs.into_iter()
    }
}

impl<K: Into<Arc<str>>, V: Into<Arc<str>>> Extend<(K, V)> for Labels {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

impl<K: Into<Arc<str>>, V: Into<Arc<str>>> FromIterator<(K, V)> for Labels {
    /// As a `BTreeMap` collects: of two pairs with one key, the later one's value is kept.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut pairs: Vec<(Arc<str>, Arc<str>)> = pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        // A stable sort keeps pairs of one key in input order; the last of each run is the one kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match kept.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => kept.push(pair),
            }
        }
        Labels { pairs: kept }.shrunk()
    }
}

impl<K: Into<Arc<str>>, V: Into<Arc<str>>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self {
            map.serialize_entry(key.as_ref(), value.as_ref())?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn it_answers_as_a_btree_map_of_the_same_inserts() {
        let inserts = [("tier", "web"), ("app", "a"), ("zone", "1"), ("app", "b"), ("", "empty"), ("tier", "db")];
        let (mut labels, mut reference) = (Labels::new(), BTreeMap::new());
        for (key, value) in inserts {
            assert_eq!(labels.insert(key, value).as_deref(), reference.insert(key, value));
        }
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        assert_eq!(pairs, reference.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
        for key in ["app", "tier", "zone", "", "missing"] {
            assert_eq!(labels.get(key).map(|v| v.as_ref()), reference.get(key).copied());
            assert_eq!(labels.contains_key(key), reference.contains_key(key));
        }
        assert_eq!(labels.len(), reference.len());
    }

    #[test]
    fn collecting_keeps_the_later_of_two_values_of_a_key() {
        let labels: Labels = [("b", "1"), ("a", "x"), ("b", "2"), ("a", "y"), ("c", "z")].into_iter().collect();
        let reference: BTreeMap<&str, &str> = [("b", "1"), ("a", "x"), ("b", "2"), ("a", "y"), ("c", "z")].into();
        assert_eq!(format!("{labels:?}"), format!("{reference:?}"));
        assert_eq!(labels, Labels::from([("c", "z"), ("a", "y"), ("b", "2")]));
    }

    #[test]
    fn it_serializes_as_a_map_in_key_order() {
        let labels = Labels::from([("tier", "web"), ("app", "shop")]);
        assert_eq!(serde_json::to_string(&labels).ok().as_deref(), Some(r#"{"app":"shop","tier":"web"}"#));
    }
}
