//! Licence normalisation: JATS `<license>` statements (the `xlink:href`, the
//! `license-type` and the free text, in that order of trust) to identifiers: `CC0`,
//! `CC-BY`, `CC-BY-SA`, `CC-BY-ND`, `CC-BY-NC`, `CC-BY-NC-SA`, `CC-BY-NC-ND`, `PDM`
//! (public domain mark), or `unknown`. Versions are dropped: the recipe keeps licence
//! families.

/// Normalises what a licence statement says.
pub fn normalise(href: Option<&str>, license_type: Option<&str>, text: &str) -> String {
    if let Some(id) = href.and_then(from_url) {
        return id;
    }
    if let Some(id) = text_urls(text).into_iter().find_map(|u| from_url(&u)) {
        return id;
    }
    if let Some(t) = license_type {
        let t = t.to_ascii_lowercase();
        if t == "cc0" {
            return "CC0".into();
        }
        if t.starts_with("cc-by") || t.starts_with("cc by") {
            return from_code(&t.replace(' ', "-")[3..]).unwrap_or_else(|| "unknown".into());
        }
    }
    from_text(text).unwrap_or_else(|| "unknown".into())
}

/// `http(s)://creativecommons.org/licenses/by-nc/3.0` → `CC-BY-NC`.
fn from_url(url: &str) -> Option<String> {
    let u = url.to_ascii_lowercase();
    let rest = u.split("creativecommons.org/").nth(1)?;
    if rest.starts_with("publicdomain/zero") {
        return Some("CC0".into());
    }
    if rest.starts_with("publicdomain/mark") {
        return Some("PDM".into());
    }
    let code = rest.strip_prefix("licenses/")?.split('/').next()?;
    from_code(code)
}

/// `by-nc-sa` → `CC-BY-NC-SA`.
fn from_code(code: &str) -> Option<String> {
    let parts: Vec<&str> = code.trim_matches('-').split('-').filter(|p| !p.is_empty()).collect();
    if parts.first() != Some(&"by") || parts.iter().any(|p| !["by", "nc", "sa", "nd"].contains(p)) {
        return None;
    }
    Some(format!("CC-{}", parts.join("-").to_ascii_uppercase()))
}

fn text_urls(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.contains("creativecommons.org"))
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/' && c != '.' && c != ':').to_string())
        .collect()
}

/// The free text of a statement: "Creative Commons Attribution Non-Commercial License" etc.
fn from_text(text: &str) -> Option<String> {
    let t = text.to_ascii_lowercase().replace(['-', '_'], " ");
    if t.contains("cc0") || t.contains("public domain dedication") {
        return Some("CC0".into());
    }
    if t.contains("creative commons attribution") || t.contains("cc by") {
        let nc = t.contains("noncommercial") || t.contains("non commercial");
        let sa = t.contains("sharealike") || t.contains("share alike");
        let nd = t.contains("noderivatives")
            || t.contains("no derivatives")
            || t.contains("noderivs")
            || t.contains("no derivs");
        let mut id = String::from("CC-BY");
        if nc {
            id.push_str("-NC");
        }
        if sa {
            id.push_str("-SA");
        }
        if nd {
            id.push_str("-ND");
        }
        return Some(id);
    }
    if t.contains("public domain") {
        return Some("PDM".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn statements_normalise() {
        assert_eq!(normalise(Some("http://creativecommons.org/licenses/by/2.0"), Some("open-access"), ""), "CC-BY");
        assert_eq!(normalise(Some("http://creativecommons.org/licenses/by-nc/3.0"), None, ""), "CC-BY-NC");
        assert_eq!(
            normalise(Some("http://creativecommons.org/publicdomain/mark/1.0/"), Some("public-domain"), ""),
            "PDM"
        );
        assert_eq!(normalise(Some("https://creativecommons.org/publicdomain/zero/1.0/"), None, ""), "CC0");
        assert_eq!(
            normalise(
                None,
                None,
                "distributed under the terms of the Creative Commons Attribution License, which permits"
            ),
            "CC-BY"
        );
        assert_eq!(normalise(None, None, "Creative Commons Attribution-NonCommercial-ShareAlike 4.0"), "CC-BY-NC-SA");
        assert_eq!(normalise(None, Some("cc-by-nc"), ""), "CC-BY-NC");
        assert_eq!(normalise(None, None, "Copyright 2010 Cancer Research UK"), "unknown");
    }
}
