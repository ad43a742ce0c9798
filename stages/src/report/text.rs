//! Text a user or a data file wrote (a content type, a licence, a file name, a parameter),
//! as the report's formats show it: [`html`] in pages, [`markdown`] in Markdown prose and
//! table cells, [`code`] as a Markdown code span. Every such string goes through one of
//! them, so that it is shown as the characters it is: never markup, a script, a link, a
//! broken table row or a broken code span, whatever renders the Markdown (many viewers
//! pass raw HTML through). Control characters (a terminal's escape sequences, which
//! `exp report` would print) are shown as `\u{…}`; line breaks become spaces, as one line
//! is what a table cell or a list item holds.

/// For HTML element content and double- or single-quoted attributes.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Markdown's inline punctuation, escaped with a backslash (CommonMark lets any ASCII
/// punctuation be escaped so): HTML and entities (`<`, `>`, `&`), code (`` ` ``),
/// emphasis (`*`, `~`), table cells (`|`, which GFM honours even in code spans) and the
/// backslash itself. Only inline contexts are written (cells, text after a list marker
/// or a heading's `#`, never a line of its own), so what matters only at a line's start
/// (headings, quotes, lists, link definitions) needs nothing.
const INLINE: &[char] = &['\\', '`', '*', '~', '<', '>', '&', '|'];

/// For Markdown prose and table cells: shown literally by any CommonMark renderer. A `_`
/// is escaped unless it is inside a word, a `[` only where it could open a link or an
/// image (a `](` follows): names (`igakuqa_3shot`) and intervals (`[10.0, 14.5]`) read
/// as they are written.
pub fn markdown(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let special = INLINE.contains(&c)
            || c == '_' && !intraword(&chars, i)
            || c == '[' && chars[i..].windows(2).any(|w| w == [']', '(']);
        if special {
            out.push('\\');
            out.push(c);
        } else {
            push_plain(&mut out, c);
        }
    }
    out
}

/// Whether the `_` at `i` is in a run of them between two letters or digits
/// (`igakuqa_3shot`, `s__tmp`), which CommonMark never reads as emphasis: names stay as
/// they are written.
fn intraword(chars: &[char], i: usize) -> bool {
    let before = chars[..i].iter().rev().find(|&&c| c != '_');
    let after = chars[i..].iter().find(|&&c| c != '_');
    before.zip(after).is_some_and(|(b, a)| b.is_alphanumeric() && a.is_alphanumeric())
}

/// A character outside Markdown's punctuation: line breaks as spaces, other control
/// characters as their `\u{…}` escape.
fn push_plain(out: &mut String, c: char) {
    match c {
        '\n' | '\r' | '\t' => out.push(' '),
        c if c.is_control() => out.extend(c.escape_unicode()),
        c => out.push(c),
    }
}

/// A Markdown code span showing `s` literally: fenced by one backtick more than its
/// longest run of them, padded with a space where it starts or ends with a backtick or a
/// space (CommonMark strips one from each side). Not for table cells: GFM splits a cell
/// at `|` even inside a code span.
pub fn code(s: &str) -> String {
    let mut body = String::with_capacity(s.len());
    s.chars().for_each(|c| push_plain(&mut body, c));
    if body.is_empty() {
        return "` `".into();
    }
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if body.starts_with(['`', ' ']) || body.ends_with(['`', ' ']) { " " } else { "" };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a CommonMark + GFM renderer that passes raw HTML through makes of `md`.
    fn render(md: &str) -> String {
        let mut options = comrak::Options::default();
        options.extension.table = true;
        options.extension.strikethrough = true;
        options.render.unsafe_ = true;
        comrak::markdown_to_html(md, &options)
    }

    /// The text of rendered HTML with its entities decoded: what a reader sees.
    fn seen(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    const HOSTILE: &[&str] = &[
        "<script>alert(1)</script>",
        "</table><img src=x onerror=alert(1)>",
        "&lt; &amp; &#60;",
        "a | b || c",
        "`tick` ``two``",
        "[link](javascript:alert(1)) ![img](x)",
        "*em* _em_ __strong__ ~~gone~~",
        "back\\slash \\| \\<",
        "igakuqa_3shot m_1 by_language",
        "_lead trail_",
        "__lead__ a__b__ c",
    ];

    #[test]
    fn hostile_text_in_a_paragraph_is_shown_as_written() {
        for s in HOSTILE {
            let html = render(&markdown(s));
            assert_eq!(html.matches('<').count(), 2, "only <p> and </p> for {s:?}: {html}");
            assert_eq!(seen(&html).trim_end(), *s, "{html}");
        }
    }

    #[test]
    fn hostile_text_in_a_table_cell_stays_in_its_cell() {
        for s in HOSTILE {
            let md = format!("| a | b |\n|---|---:|\n| {} | x |\n", markdown(s));
            let html = render(&md);
            assert_eq!(html.matches("<td").count(), 2, "{s:?}: {html}");
            assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<a "), "{html}");
            assert!(seen(&html).contains(s), "{s:?}: {html}");
        }
    }

    #[test]
    fn hostile_text_in_a_code_span_is_shown_as_written() {
        for s in HOSTILE.iter().chain(&["`", "``", " lead", "trail ", ""]) {
            let html = render(&format!("x {} y", code(s)));
            assert_eq!(html.matches("<code>").count(), 1, "{s:?}: {html}");
            let inside = html.split("<code>").nth(1).and_then(|r| r.split("</code>").next()).expect("a code span");
            let shown = seen(inside);
            assert_eq!(if s.is_empty() { shown.trim() } else { shown.as_str() }, *s, "{html}");
        }
    }

    #[test]
    fn names_and_intervals_read_as_written() {
        for s in ["igakuqa_3shot", "| m_1 |", "s_______evil_x", "12.3 [10.0, 14.5]", "0 (0.0%)"] {
            assert_eq!(markdown(s).replace("\\|", "|"), s);
        }
    }

    #[test]
    fn line_breaks_and_control_characters_are_shown_not_obeyed() {
        assert_eq!(markdown("a\nb\r\tc"), "a b  c");
        assert_eq!(markdown("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(code("a\n\nb\u{7}"), "`a  b\\u{7}`");
        let html = render(&format!("- {}\n", markdown("x\n\n# heading\n<script>")));
        assert!(!html.contains("<h1") && !html.contains("<script"), "{html}");
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html("<a href=\"x\" title='y'>&amp;</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
    }
}
