//! One shared copy of each label key, label value and container image a thread decodes.
//!
//! A cluster's 50,000 pods repeat a few dozen label keys, a few thousand values and a few hundred images; held as a
//! `String` each, their labels were the largest part of a loaded tier L cluster (107 MB of 464). Each decoding
//! thread keeps a table of the strings it has handed out and hands out the same `Arc` again. The table is per
//! thread, so threads never contend on it, and bounded, so that an input of millions of distinct values costs no
//! more than their copies.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

/// Longer strings are copied, not looked up: no label key or value is this long (keys stop at 317 bytes, values
/// at 63), nor an image reference in practice, and hashing a long annotation only to find it unique costs more
/// than it saves.
const LONGEST_SHARED: usize = 320;
/// Strings a thread's table holds before it starts afresh. Strings already handed out stay valid; only the sharing
/// of later copies with earlier ones is lost.
const TABLE_CAPACITY: usize = 1 << 16;

thread_local! {
    static TABLE: RefCell<HashSet<Arc<str>, foldhash::fast::RandomState>> = RefCell::default();
}

/// The shared copy of `text`.
pub(crate) fn intern(text: &str) -> Arc<str> {
    if text.len() > LONGEST_SHARED {
        return Arc::from(text);
    }
    TABLE.with_borrow_mut(|table| {
        if let Some(shared) = table.get(text) {
            return shared.clone();
        }
        if table.len() >= TABLE_CAPACITY {
            table.clear();
        }
        let shared: Arc<str> = Arc::from(text);
        table.insert(shared.clone());
        shared
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_copy() {
        let (first, second) = (intern("app.kubernetes.io/name"), intern(&String::from("app.kubernetes.io/name")));
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&intern("web"), &intern("db")));
    }

    #[test]
    fn long_strings_are_copied_not_shared() {
        let long = "x".repeat(LONGEST_SHARED + 1);
        let (first, second) = (intern(&long), intern(&long));
        assert_eq!(first, second);
        assert!(!Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn a_full_table_starts_afresh_and_its_strings_stay_valid() {
        let kept = intern("kept-value");
        for i in 0..TABLE_CAPACITY {
            intern(&format!("value-{i}"));
        }
        TABLE.with_borrow(|table| assert!(table.len() <= TABLE_CAPACITY));
        assert_eq!(&*kept, "kept-value");
        assert!(!Arc::ptr_eq(&kept, &intern("kept-value")), "the table was emptied when full");
    }
}
