//! The passages queries are written for.

use densify_data::Document;

/// A corpus passage: its id and the text a model sees (BEIR's `title + " " + text`).
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The corpus id.
    pub id: String,
    /// The passage text.
    pub text: String,
    /// The document's title, empty when it has none (`text` starts with it when it is not).
    pub title: String,
}

impl From<&Document> for Passage {
    fn from(d: &Document) -> Self {
        Self {
            id: d.id.clone(),
            text: d.full_text(),
            title: d.title.trim().to_owned(),
        }
    }
}

/// The first `max_chars` characters of `text`, cut back to the last whitespace when the cut
/// falls inside a word (paper B cuts passages to 2,048 characters).
pub fn cut_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        None => text,
        Some((end, next)) => {
            let head = &text[..end];
            if next.is_whitespace() {
                return head.trim_end();
            }
            match head.rfind(char::is_whitespace) {
                Some(space) if space > 0 => head[..space].trim_end(),
                _ => head,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_word_boundary_and_counts_characters() {
        assert_eq!(cut_chars("short", 10), "short");
        assert_eq!(cut_chars("one two three", 9), "one two");
        assert_eq!(cut_chars("ééé ééé", 5), "ééé");
        assert_eq!(cut_chars("abcdefgh", 4), "abcd");
    }
}
