//! "Did you mean": how far apart two words are, and the nearest of a list of known words, for
//! messages about a misspelt key, flag or path segment.

/// Levenshtein distance between `a` and `b` (characters, case-sensitive).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The known word `word` most likely stands for: the same once `-` is read as `_` and case is
/// ignored, one that starts or ends with it (`scope` → `scopes`), one it starts with (`output`
/// → `out`), or the nearest within a third of its length (at least 1, at most 3 edits).
pub fn nearest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let w = norm(word);
    if let Some(k) = known.iter().find(|k| norm(k) == w) {
        return Some(k);
    }
    if w.len() >= 4
        && let Some(k) = known
            .iter()
            .find(|k| norm(k).starts_with(&w) || norm(k).ends_with(&w))
    {
        return Some(k);
    }
    // The other way round (`output` → `out`): the longest known word it starts with.
    if let Some(k) = known
        .iter()
        .filter(|k| k.len() >= 3 && w.starts_with(&norm(k)))
        .max_by_key(|k| k.len())
    {
        return Some(k);
    }
    let limit = (w.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(&w, &norm(k)), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("onerostr", "oneroster"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let known = ["scopes", "base_url", "client_id", "token_url", "out"];
        assert_eq!(nearest("scope", &known), Some("scopes"));
        assert_eq!(nearest("base_ulr", &known), Some("base_url"));
        assert_eq!(nearest("client-id", &known), Some("client_id"));
        assert_eq!(nearest("output", &known), Some("out"));
        assert_eq!(nearest("colour", &known), None);
    }
}
