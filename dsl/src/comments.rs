//! Comments, read back from the source text. The grammar skips them, so the formatter
//! finds them here by position and re-attaches them to the nearest item.

/// One `# …` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub start: usize,
    pub end: usize,
    /// The comment with its `#`, trailing whitespace removed.
    pub text: String,
}

/// Every comment in `text`, in order. Strings are skipped, so a `#` inside `"…"` is not a
/// comment.
pub fn scan(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                out.push(Comment { start: i, end, text: text[i..end].trim_end().to_string() });
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::scan;

    #[test]
    fn finds_comments_outside_strings() {
        let c = scan("a = \"x # y\" # real\n# own line\nb");
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["# real", "# own line"]);
    }
}
