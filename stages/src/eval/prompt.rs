//! Prompt templates: one `minijinja` file per task and language, under
//! `stages/templates/eval/`, compiled into the binary; a task's `template:` parameter
//! replaces it with a file of the experiment (hashed into the node's identity like every
//! path). A template sees `item` (the item's fields) and `shots` (the few-shot items, each
//! with its `answer`), and renders the whole prompt, few-shot block included.
//!
//! The built-in templates belong to the `jmedbench` kind's code version: changing one
//! must bump `kinds::eval::JMEDBENCH.version` (a test pins their hash). Which task uses
//! which template is the task table's business (`tasks::TABLE`, whose test holds the two
//! lists together); this module knows items only through [`Prompted`].

use crate::StageError;
use minijinja::{context, Environment, UndefinedBehavior};
use std::path::Path;

/// The built-in templates, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("igakuqa", include_str!("../../templates/eval/igakuqa.j2")),
    ("igakuqa_en", include_str!("../../templates/eval/igakuqa_en.j2")),
    ("mcqa_ja", include_str!("../../templates/eval/mcqa_ja.j2")),
    ("pubmedqa", include_str!("../../templates/eval/pubmedqa.j2")),
    ("jmed_sts", include_str!("../../templates/eval/jmed_sts.j2")),
    ("jmed_ner", include_str!("../../templates/eval/jmed_ner.j2")),
    ("mt_en_ja", include_str!("../../templates/eval/mt_en_ja.j2")),
    ("mt_ja_en", include_str!("../../templates/eval/mt_ja_en.j2")),
];

/// What a template sees of an item: its fields (as `item`, or as one of `shots`) and,
/// for a few-shot example, its answer. The tasks' items implement it.
pub trait Prompted {
    fn fields(&self) -> &serde_json::Value;
    /// The gold answer as the few-shot block shows it.
    fn answer(&self) -> &str;
}

/// A compiled template.
pub struct Template {
    /// The built-in name or the file it was read from, for messages.
    pub name: String,
    env: Environment<'static>,
}

impl Template {
    /// The built-in template `name`, or the file `replacement` when given.
    pub fn load(name: &str, replacement: Option<&Path>) -> Result<Template, StageError> {
        let (shown, source) = match replacement {
            Some(path) => (path.display().to_string(), std::fs::read_to_string(path).map_err(StageError::io(path))?),
            None => {
                let source = BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, s)| s.to_string());
                (format!("built-in template `{name}`"), source.expect("every task names a built-in template"))
            }
        };
        let mut env = Environment::new();
        // A field the item lacks is an error, not an empty string in the prompt.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template_owned("prompt", source)
            .map_err(|e| StageError::Param(format!("{shown}: cannot compile the template: {e:#}")))?;
        Ok(Template { name: shown, env })
    }

    /// The prompt for `item` after `shots`.
    pub fn render<I: Prompted>(&self, item: &I, shots: &[&I]) -> Result<String, String> {
        let shots: Vec<serde_json::Value> = shots
            .iter()
            .map(|s| {
                let mut fields = s.fields().clone();
                fields["answer"] = serde_json::Value::String(s.answer().to_string());
                fields
            })
            .collect();
        let template = self.env.get_template("prompt").expect("added at load");
        template
            .render(context! { item => item.fields(), shots => shots })
            .map_err(|e| format!("{}: cannot render: {e:#}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An item as a template sees it.
    struct Shown(serde_json::Value, String);

    impl Prompted for Shown {
        fn fields(&self) -> &serde_json::Value {
            &self.0
        }
        fn answer(&self) -> &str {
            &self.1
        }
    }

    fn item(fields: serde_json::Value, answer: &str) -> Shown {
        Shown(fields, answer.into())
    }

    #[test]
    fn igakuqa_renders_as_the_official_prompt() {
        let t = Template::load("igakuqa", None).expect("compiles");
        let q = |text: &str| {
            json!({"question": text, "choices": [{"letter": "a", "text": "甲"}, {"letter": "b", "text": "乙"}],
                   "letters": "a,b", "k": 1})
        };
        let shot = item(q("問一"), "b");
        let asked = item(q("問二"), "");
        let prompt = t.render(&asked, &[&shot]).expect("renders");
        assert_eq!(
            prompt,
            "問題: 問一\na: 甲\nb: 乙\n必ずa,bの中からちょうど1個選んでください。\n答え:b\n\
             問題: 問二\na: 甲\nb: 乙\n必ずa,bの中からちょうど1個選んでください。\n答え:"
        );
    }

    #[test]
    fn a_missing_field_fails_to_render_with_the_template_named() {
        let t = Template::load("mcqa_ja", None).expect("compiles");
        let err = t.render(&item(json!({"question": "q"}), ""), &[]).expect_err("no choices");
        assert!(err.contains("built-in template `mcqa_ja`"), "{err}");
    }

    /// Built-in templates are part of `jmedbench`'s code version: when this fails,
    /// bump `JMEDBENCH.version` and update the hash.
    #[test]
    fn built_in_templates_are_pinned_to_the_kind_version() {
        let mut h = blake3::Hasher::new();
        for (name, source) in BUILT_IN {
            h.update(name.as_bytes());
            h.update(source.as_bytes());
        }
        let pinned = (crate::kinds::eval::JMEDBENCH.version, &h.finalize().to_hex()[..16]);
        assert_eq!(pinned, (5, "95d62d5c349b832c"), "bump JMEDBENCH.version and pin the new hash");
    }
}
