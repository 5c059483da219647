//! Label sets.
//!
//! A [`Labels`] is a set of (name, value) pairs sorted by name with unique
//! names, stored in one heap allocation: every name and value is written as a
//! LEB128 length followed by its UTF-8 bytes. Iteration decodes in place, so
//! reading a label set never allocates. Equality, ordering and hashing follow
//! the pairs, so two sets built in any order from the same pairs are equal.
//!
//! Thread safety: a `Labels` is immutable once built; share it freely.

use std::cmp::Ordering;
use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// An immutable, sorted label set in one allocation.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    buf: Box<[u8]>,
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels::default()
    }

    /// Builds a set from pairs in any order. Later duplicates of a name replace
    /// earlier ones; pairs with an empty value are dropped, as in Prometheus.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Self {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.build()
    }

    /// Builds a set from pairs that are already sorted by name and unique.
    /// Cheaper than [`Labels::from_pairs`]; a caller breaking the order gets a
    /// set that compares wrongly, so this checks the order in debug builds.
    pub fn from_sorted<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        // The first pairs are held on the stack to size the buffer exactly:
        // growing it from empty cost five reallocations per set, 12% of
        // remote-write ingest CPU (profile in docs/benchmarks.md).
        let mut it = pairs.into_iter();
        let mut few = [("", ""); 16];
        let mut n = 0;
        let mut size = 0;
        while n < few.len() {
            let Some((name, value)) = it.next() else {
                break;
            };
            size += encoded_len(name) + encoded_len(value);
            few[n] = (name, value);
            n += 1;
        }
        let mut buf = Vec::with_capacity(size);
        let mut last: Option<&str> = None;
        for (n, v) in few[..n].iter().copied().chain(it) {
            debug_assert!(
                last.is_none_or(|l| l < n),
                "BUG: labels not sorted: {last:?} {n}"
            );
            last = Some(n);
            encode_str(&mut buf, n);
            encode_str(&mut buf, v);
        }
        Labels {
            buf: buf.into_boxed_slice(),
        }
    }

    /// The set's bytes: each name and value as a LEB128 length and its
    /// UTF-8 bytes, in name order. Equal sets have equal bytes, so a store
    /// can hash and compare label sets as bytes, and compare them with
    /// pairs written by [`Labels::encode_pairs`].
    pub fn encoded(&self) -> &[u8] {
        &self.buf
    }

    /// Writes `pairs`, in the order given, as [`Labels::encoded`] writes a
    /// set (`dst` is cleared first): the bytes of the set of exactly these
    /// pairs when they are sorted, unique and without empty values, and
    /// bytes no set has otherwise.
    pub fn encode_pairs<'a>(
        dst: &mut Vec<u8>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        dst.clear();
        for (n, v) in pairs {
            encode_str(dst, n);
            encode_str(dst, v);
        }
    }

    /// The (name, value) pairs in name order.
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter { rest: &self.buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The value of `name`, or `None` when the set has no such label.
    pub fn get(&self, name: &str) -> Option<&str> {
        for (n, v) in self.iter() {
            match n.cmp(name) {
                Ordering::Less => continue,
                Ordering::Equal => return Some(v),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// The metric name, or `""` when there is none.
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME).unwrap_or("")
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A 64-bit hash of the pairs, stable across runs and platforms (xxh3 over
    /// the encoded form). Series identity uses it with collision handling.
    pub fn stable_hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.buf)
    }

    /// Hash of only the named labels (`on(...)`) or of all but them
    /// (`ignoring(...)`), for vector matching and grouping; `names` is sorted.
    pub fn hash_for(&self, names: &[&str], include: bool) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (n, v) in self.iter() {
            if names.binary_search(&n).is_ok() == include {
                h.update(n.as_bytes());
                h.update(&[0xff]);
                h.update(v.as_bytes());
                h.update(&[0xff]);
            }
        }
        h.digest()
    }

    /// A builder starting from this set.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder::from_labels(self)
    }

    /// The encoded size in bytes, for memory accounting.
    pub fn byte_size(&self) -> usize {
        self.buf.len()
    }
}

impl Ord for Labels {
    /// Prometheus' order: pairwise by name, then value; a prefix sorts first.
    fn cmp(&self, other: &Self) -> Ordering {
        // Equal pairs are equal bytes, and the series a query sorts share
        // most of their pairs: skip the common byte prefix at once and
        // compare pairwise only from the pair where the bytes differ
        // (sorting selected series was 15-20% of instant queries, mostly
        // decoding equal pairs; docs/benchmarks.md).
        let (a, b) = (&*self.buf, &*other.buf);
        let common = common_prefix_len(a, b);
        if common == a.len() && common == b.len() {
            return Ordering::Equal;
        }
        // The pairs that end inside the common prefix are equal in both, and
        // a pair boundary of `a` there is one of `b`.
        let mut start = 0;
        while start < a.len() {
            let end = start + pair_len(&a[start..]);
            if end > common {
                break;
            }
            start = end;
        }
        let mut a = LabelsIter { rest: &a[start..] };
        let mut b = LabelsIter { rest: &b[start..] };
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some((an, av)), Some((bn, bv))) => {
                    let o = an.cmp(bn).then_with(|| av.cmp(bv));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
        }
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Labels {
    /// `{a="1", b="2"}` with Go-style quoting, as Prometheus prints label sets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Iterator over the pairs of a [`Labels`].
pub struct LabelsIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);

    // Inlined across crates: the head compares stored label sets pair by
    // pair with what a client sent, once per remote-write sample.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let name = decode_str(&mut self.rest);
        let value = decode_str(&mut self.rest);
        Some((name, value))
    }
}

/// How many leading bytes `a` and `b` have in common.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (mut wa, mut wb) = ([0u8; 8], [0u8; 8]);
        wa.copy_from_slice(ca);
        wb.copy_from_slice(cb);
        let diff = u64::from_le_bytes(wa) ^ u64::from_le_bytes(wb);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Bytes of the encoded pair at the start of `buf` (a whole label buffer's
/// tail, so it holds complete pairs).
fn pair_len(buf: &[u8]) -> usize {
    let mut rest = buf;
    decode_str(&mut rest);
    decode_str(&mut rest);
    buf.len() - rest.len()
}

/// Bytes [`encode_str`] writes for `s`.
fn encoded_len(s: &str) -> usize {
    let mut n = s.len();
    let mut len = 1 + n;
    while n >= 0x80 {
        len += 1;
        n >>= 7;
    }
    len
}

fn encode_str(buf: &mut Vec<u8>, s: &str) {
    let mut n = s.len();
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(s.as_bytes());
}

#[inline]
fn decode_str<'a>(rest: &mut &'a [u8]) -> &'a str {
    let buf: &'a [u8] = rest;
    // Names and values shorter than 128 bytes (nearly all) have a one-byte
    // length.
    let (len, start) = match buf.first() {
        Some(&b) if b < 0x80 => (b as usize, 1),
        _ => decode_len(buf),
    };
    let (bytes, tail) = buf[start..].split_at(len);
    *rest = tail;
    utf8::from_encoded(bytes)
}

/// A multi-byte LEB128 length: (length, bytes it took).
fn decode_len(buf: &[u8]) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = buf[i];
        i += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (len, i);
        }
        shift += 7;
    }
}

#[allow(unsafe_code)]
mod utf8 {
    /// Turns bytes written by `encode_str` back into the `&str` they came from.
    #[inline]
    pub(super) fn from_encoded(bytes: &[u8]) -> &str {
        // SAFETY: a `Labels` buffer is private and only ever written by
        // `encode_str` from `&str` values, and `decode_str` slices it at the
        // exact boundaries it wrote, so these bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

/// Collects labels to build a [`Labels`]; reusable with [`LabelsBuilder::reset`].
///
/// The strings of removed labels are kept as spares and refilled by the next
/// `set` or `reset_to`, so a builder reused per series (relabeling, scrape
/// and ingest paths) stops allocating once it has seen its widest series.
#[derive(Debug, Default, Clone)]
pub struct LabelsBuilder {
    /// `pairs[..len]` are the labels; the rest are spares.
    pairs: Vec<(String, String)>,
    len: usize,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_labels(labels: &Labels) -> Self {
        let mut b = Self::new();
        b.reset_to(labels);
        b
    }

    fn live(&self) -> &[(String, String)] {
        &self.pairs[..self.len]
    }

    /// Appends a pair, refilling a spare when there is one.
    fn push(&mut self, name: &str, value: &str) {
        match self.pairs.get_mut(self.len) {
            Some((n, v)) => {
                name.clone_into(n);
                value.clone_into(v);
            }
            None => self.pairs.push((name.to_string(), value.to_string())),
        }
        self.len += 1;
    }

    /// Empties the builder, keeping its allocations.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Replaces the content with `labels`.
    pub fn reset_to(&mut self, labels: &Labels) {
        self.len = 0;
        for (n, v) in labels.iter() {
            self.push(n, v);
        }
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        let len = self.len;
        match self.pairs[..len].iter_mut().find(|(n, _)| n == name) {
            Some(p) => value.clone_into(&mut p.1),
            None => self.push(name, value),
        }
    }

    pub fn del(&mut self, name: &str) {
        self.retain(|n, _| n != name);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.live()
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Keeps only the labels for which `keep(name, value)` is true, in
    /// their order; the others become spares.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            let (n, v) = &self.pairs[i];
            if keep(n, v) {
                self.pairs.swap(kept, i);
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// The current pairs, unsorted, including names set to "".
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.live().iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The sorted set, without empty values.
    pub fn build(&self) -> Labels {
        let mut refs: Vec<(&str, &str)> = self
            .live()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        refs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Labels::from_sorted(refs)
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the label names Prometheus 2.42 accepts.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the metric names Prometheus 2.42 accepts.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_and_empty_values_dropped() {
        let l = Labels::from_pairs(&[("job", "node"), ("__name__", "up"), ("empty", "")]);
        let pairs: Vec<_> = l.iter().collect();
        assert_eq!(pairs, vec![("__name__", "up"), ("job", "node")]);
        assert_eq!(l.get("job"), Some("node"));
        assert_eq!(l.get("empty"), None);
        assert_eq!(l.metric_name(), "up");
        assert_eq!(l.to_string(), r#"{__name__="up", job="node"}"#);
    }

    /// Pairs encode to a set's bytes exactly when they are that set's
    /// pairs in order; long strings take multi-byte lengths.
    #[test]
    fn encoded_pairs_match_only_their_own_set() {
        let long = "v".repeat(200);
        let l = Labels::from_pairs(&[("__name__", "up"), ("a", long.as_str()), ("b", "")]);
        let mut dst = vec![9u8];
        Labels::encode_pairs(&mut dst, l.iter());
        assert_eq!(dst, l.encoded());
        for other in [
            vec![("__name__", "up")],
            vec![("a", long.as_str()), ("__name__", "up")],
            vec![("__name__", "up"), ("a", long.as_str()), ("b", "")],
            vec![("__name__", "u"), ("pa", long.as_str())],
        ] {
            Labels::encode_pairs(&mut dst, other.iter().copied());
            assert_ne!(dst, l.encoded(), "{other:?}");
        }
        assert!(Labels::empty().encoded().is_empty());
    }

    #[test]
    fn from_sorted_equals_from_pairs_for_any_count_and_length() {
        let long = "v".repeat(300);
        for count in [0, 1, 15, 16, 17, 40] {
            let names: Vec<String> = (0..count).map(|i| format!("l{i:03}")).collect();
            let pairs: Vec<(&str, &str)> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), if i % 3 == 0 { long.as_str() } else { "x" }))
                .collect();
            let sorted = Labels::from_sorted(pairs.iter().copied());
            assert_eq!(sorted, Labels::from_pairs(&pairs), "{count} pairs");
            assert_eq!(sorted.iter().collect::<Vec<_>>(), pairs);
            assert_eq!(
                sorted.byte_size(),
                pairs
                    .iter()
                    .map(|(n, v)| encoded_len(n) + encoded_len(v))
                    .sum::<usize>()
            );
        }
    }

    #[test]
    fn long_and_unicode_values_round_trip() {
        let long = "x".repeat(70_000);
        let l = Labels::from_pairs(&[("a", long.as_str()), ("b", "ümlaut\n\"q\"")]);
        assert_eq!(l.get("a"), Some(long.as_str()));
        assert_eq!(l.get("b"), Some("ümlaut\n\"q\""));
    }

    #[test]
    fn order_and_equality_follow_the_pairs() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let ab = Labels::from_pairs(&[("b", "2"), ("a", "1")]);
        let ab2 = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        assert_eq!(ab, ab2);
        assert_eq!(ab.stable_hash(), ab2.stable_hash());
        assert!(a < ab);
        assert!(Labels::from_pairs(&[("a", "2")]) > ab);
    }

    /// Prometheus' order, pair by pair, as the fast comparison must give.
    fn pairwise(a: &Labels, b: &Labels) -> Ordering {
        let (mut a, mut b) = (a.iter(), b.iter());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => match x.cmp(&y) {
                    Ordering::Equal => continue,
                    o => return o,
                },
            }
        }
    }

    #[test]
    fn order_skipping_the_common_prefix_agrees_with_pairwise_order() {
        let long = "x".repeat(200);
        let longer = "x".repeat(300);
        let values = [
            "",
            "a",
            "ab",
            "b",
            "a\u{0}",
            "é",
            long.as_str(),
            longer.as_str(),
        ];
        let names = ["__name__", "a", "ab", "b", "instance", "le"];
        let mut sets = vec![Labels::empty()];
        for n1 in &names {
            for v1 in &values {
                sets.push(Labels::from_pairs(&[(*n1, *v1)]));
                for v2 in &values[1..4] {
                    sets.push(Labels::from_pairs(&[(*n1, *v1), ("zz", *v2)]));
                    sets.push(Labels::from_pairs(&[
                        ("__name__", "m"),
                        (*n1, *v1),
                        ("zz", *v2),
                    ]));
                }
            }
        }
        for a in &sets {
            for b in &sets {
                assert_eq!(a.cmp(b), pairwise(a, b), "{a} vs {b}");
                assert_eq!(a.cmp(b) == Ordering::Equal, a == b, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn hash_for_selects_labels() {
        let x = Labels::from_pairs(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let y = Labels::from_pairs(&[("a", "1"), ("b", "9"), ("c", "3")]);
        assert_eq!(x.hash_for(&["a", "c"], true), y.hash_for(&["a", "c"], true));
        assert_ne!(x.hash_for(&["a"], true), y.hash_for(&["a"], true) ^ 1);
        assert_eq!(x.hash_for(&["b"], false), y.hash_for(&["b"], false));
        assert_ne!(x.hash_for(&["a"], false), y.hash_for(&["a"], false));
    }

    #[test]
    fn builder_is_reusable() {
        let mut b = LabelsBuilder::new();
        b.set("z", "1");
        b.set("a", "2");
        b.set("z", "3");
        assert_eq!(b.build().to_string(), r#"{a="2", z="3"}"#);
        b.reset();
        b.set("q", "1");
        b.del("q");
        assert!(b.build().is_empty());
    }

    #[test]
    fn name_validity() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
        assert!(is_valid_metric_name("a:b_c"));
        assert!(!is_valid_metric_name("a-b"));
    }

    #[test]
    fn builder_reuses_removed_labels_and_keeps_order() {
        let mut b = LabelsBuilder::new();
        b.reset_to(&Labels::from_pairs(&[("a", "1"), ("b", "2"), ("c", "3")]));
        b.del("b");
        b.set("d", "4");
        b.set("a", "");
        assert_eq!(
            b.pairs().collect::<Vec<_>>(),
            [("a", ""), ("c", "3"), ("d", "4")]
        );
        assert_eq!(b.build(), Labels::from_pairs(&[("c", "3"), ("d", "4")]));
        b.retain(|n, _| n != "c");
        assert_eq!(b.get("c"), None);
        assert_eq!(b.get("d"), Some("4"));
        b.reset();
        assert_eq!(b.pairs().count(), 0);
        assert!(b.build().is_empty());
        b.reset_to(&Labels::from_pairs(&[("x", "y")]));
        assert_eq!(b.build(), Labels::from_pairs(&[("x", "y")]));
    }
}
