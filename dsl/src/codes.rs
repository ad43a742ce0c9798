//! Every diagnostic code the checker emits, in one table. A [`Diagnostic`] can only be
//! made with a [`Code`], so a code exists exactly when it is listed here; each has an
//! entry `### CODE: title` in the error catalogue of `docs/language.md` and a fixture in
//! `tests/fixtures/` whose `exp check` output shows it (`tests/diagnostics.rs` fails
//! otherwise, and when the catalogue documents a code this table lacks).
//!
//! [`Diagnostic`]: crate::Diagnostic

use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $title:literal;)*) => {
        /// A stable diagnostic code: `E…` for errors, `W…` for warnings. `E00xx` are about
        /// files and syntax, `E01xx` about names, loops and profiles, `E02xx` about types
        /// and values, `E03xx` about an executor's settings file.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[$doc])* #[doc = concat!("`", $code, "`: ", $title, ".")] $variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed: `E0204`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The title of its entry in the error catalogue (`### E0204: wrong type`).
            pub const fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)*
                }
            }
        }
    };
}

codes! {
    Syntax = "E0001", "syntax error";
    NotText = "E0002", "not a text file";
    NestedTooDeep = "E0003", "brackets nested too deep";
    CannotRead = "E0004", "cannot read a file";
    ImportCycle = "E0005", "import cycle";
    NoHeader = "E0006", "no `experiment` header";
    TwoHeaders = "E0007", "two `experiment` headers";
    UndefinedName = "E0101", "undefined name";
    DefinedTwice = "E0102", "defined twice";
    LoopNameTwice = "E0103", "a loop produces the same name twice";
    BadInterpolation = "E0104", "bad name interpolation";
    OverrideNothing = "E0105", "`override` replaces nothing";
    BadGlob = "E0106", "bad glob";
    Cycle = "E0107", "cycle, or dependencies too deep";
    ProfileUnknownLet = "E0108", "a profile sets an unknown constant";
    UnknownProfile = "E0109", "unknown profile";
    ForOverNonList = "E0110", "`for` over something that is not a list";
    LoopVariableTwice = "E0111", "loop variable bound twice";
    TooManyDefinitions = "E0112", "too many definitions";
    UnknownStage = "E0201", "unknown stage";
    UnknownParameter = "E0202", "unknown parameter";
    MissingParameter = "E0203", "missing parameter";
    WrongType = "E0204", "wrong type";
    OutOfRange = "E0205", "value out of range";
    WrongUnit = "E0206", "wrong or missing unit";
    MisplacedPositional = "E0207", "misplaced positional argument";
    GivenTwice = "E0208", "given twice";
    KeywordMismatch = "E0209", "keyword does not fit";
    MixtureAlgebra = "E0210", "mixture algebra error";
    BudgetWithoutTokenizer = "E0211", "budget without a tokenizer";
    InvalidSymbol = "E0212", "invalid symbol";
    UnknownConstructor = "E0213", "unknown constructor";
    ParameterRule = "E0214", "parameters break a rule between them";
    /// In an executor's settings file (`slurm.toml`), not in a `.med` file.
    BadSetting = "E0301", "bad executor setting";
    Unused = "W0001", "unused definition";
    EmptyLoop = "W0002", "loop over an empty list";
}

impl Code {
    /// A warning code (`W…`); the others are errors.
    pub const fn is_warning(self) -> bool {
        self.as_str().as_bytes()[0] == b'W'
    }

    /// The code whose text is `s`.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As its text, so JSON output reads `"code": "E0204"`.
impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_well_formed_and_in_order() {
        for pair in Code::ALL.windows(2) {
            assert!(pair[0].as_str() < pair[1].as_str(), "{} before {}", pair[0], pair[1]);
        }
        for c in Code::ALL {
            let s = c.as_str();
            assert!(s.len() == 5 && (s.starts_with('E') || s.starts_with('W')), "{s}");
            assert!(s[1..].bytes().all(|b| b.is_ascii_digit()), "{s}");
            assert_eq!(Code::parse(s), Some(*c));
            assert!(!c.title().is_empty() && !c.title().ends_with('.'), "{s}");
        }
        assert_eq!(serde_json::to_value(Code::WrongType).ok(), Some(serde_json::json!("E0204")));
        assert!(Code::Unused.is_warning() && !Code::WrongType.is_warning());
    }
}
