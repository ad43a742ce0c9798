//! Python list literals of strings, what JMED-LLM's NER answers are written as.

/// A Python list of string literals (`['胃癌', "走行\u3000異常"]`), what JMED-LLM's gold
/// answers are and what it reads from a model's output with `eval`. `None` for anything
/// else.
pub fn parse_list(text: &str) -> Option<Vec<String>> {
    let mut chars = text.trim().chars().peekable();
    let skip_ws = |c: &mut std::iter::Peekable<std::str::Chars>| {
        while c.peek().is_some_and(|c| c.is_whitespace()) {
            c.next();
        }
    };
    if chars.next()? != '[' {
        return None;
    }
    let mut out = Vec::new();
    loop {
        skip_ws(&mut chars);
        match chars.next()? {
            ']' => break,
            quote @ ('\'' | '"') => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        c if c == quote => break,
                        '\\' => match chars.next()? {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            'u' => s.push(hex_char(&mut chars, 4)?),
                            'U' => s.push(hex_char(&mut chars, 8)?),
                            'x' => s.push(hex_char(&mut chars, 2)?),
                            c @ ('\\' | '\'' | '"') => s.push(c),
                            c => {
                                s.push('\\');
                                s.push(c);
                            }
                        },
                        c => s.push(c),
                    }
                }
                out.push(s);
                skip_ws(&mut chars);
                match chars.next()? {
                    ',' => continue,
                    ']' => break,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    skip_ws(&mut chars);
    chars.next().is_none().then_some(out)
}

fn hex_char(chars: &mut std::iter::Peekable<std::str::Chars>, digits: usize) -> Option<char> {
    let hex: String = (0..digits).map(|_| chars.next()).collect::<Option<String>>()?;
    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_list_literals() {
        assert_eq!(parse_list("['胃癌', '走行異常']"), Some(vec!["胃癌".to_string(), "走行異常".to_string()]));
        assert_eq!(parse_list(r"['２０ｍｇ／\u3000ｄａｙ']"), Some(vec!["２０ｍｇ／\u{3000}ｄａｙ".to_string()]));
        assert_eq!(parse_list(r#"[ "a\"b" , 'c' ]"#), Some(vec!["a\"b".to_string(), "c".to_string()]));
        assert_eq!(parse_list("[]"), Some(vec![]));
        assert_eq!(parse_list("胃癌、走行異常"), None);
        assert_eq!(parse_list("['unterminated"), None);
        assert_eq!(parse_list("['a'] trailing"), None);
    }
}
