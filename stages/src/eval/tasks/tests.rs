use super::*;
use std::collections::BTreeMap;

/// The bundled data folder (`<workspace>/data`).
fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("stages/ has a parent").join("data")
}

/// The lowered values of a constructor with every parameter at its schema default: one
/// per combination of its enum parameters' symbols (a required parameter must be one of
/// them), so that every language of every task is among them.
fn lowered(c: &Constructor) -> Vec<Value> {
    let mut out = vec![BTreeMap::from([("type".to_string(), Value::Str(c.name.into()))])];
    for p in c.params {
        let choices: Vec<Value> = match (&p.default, &p.ty) {
            (Default::Required | Default::Sym(_), Ty::Enum(symbols)) => {
                symbols.iter().map(|s| Value::Str(s.to_string())).collect()
            }
            (Default::Int(i), _) => vec![Value::Int(*i)],
            (Default::Float(f), _) => vec![Value::Float(*f)],
            (Default::Bool(b), _) => vec![Value::Bool(*b)],
            (Default::Str(s), _) => vec![Value::Str(s.to_string())],
            (Default::Empty, _) => vec![Value::List(Vec::new())],
            (Default::Optional, _) => vec![Value::Null],
            (d, t) => panic!("`{}({})`: give the test a sample of {t:?} ({d:?})", c.name, p.name),
        };
        out = out
            .into_iter()
            .flat_map(|m| {
                choices.iter().map(move |v| {
                    let mut m = m.clone();
                    m.insert(p.name.to_string(), v.clone());
                    m
                })
            })
            .collect();
    }
    out.into_iter().map(Value::Map).collect()
}

/// Every task of the table, in each of its languages, at its defaults.
fn every_task() -> Vec<TaskSpec> {
    TABLE
        .iter()
        .flat_map(|r| lowered(&r.constructor))
        .map(|v| TaskSpec::from_value(&v).unwrap_or_else(|e| panic!("{v:?}: {e}")))
        .collect()
}

#[test]
fn the_schema_defaults_of_every_task_deserialise_and_write_back() {
    for row in TABLE {
        for value in lowered(&row.constructor) {
            let spec = TaskSpec::from_value(&value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(spec.name(), row.constructor.name);
            assert_eq!(spec.row().constructor.name, row.constructor.name);
            // Written back, the value is the lowered one: the spec and the schema agree on
            // every parameter.
            let back: Value = serde_json::from_value(serde_json::to_value(&spec).expect("serialises")).expect("value");
            assert_eq!(back, value);
        }
    }
}

#[test]
fn a_task_value_must_fit_its_constructor() {
    let crade = |extra: &[(&str, Value)]| {
        let mut m = BTreeMap::from([
            ("type".to_string(), Value::Str("crade".into())),
            ("shots".to_string(), Value::Int(2)),
            ("template".to_string(), Value::Null),
        ]);
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Value::Map(m)
    };
    assert_eq!(TaskSpec::from_value(&crade(&[])).expect("fits"), TaskSpec::Crade(Plain { shots: 2, template: None }));
    let err = TaskSpec::from_value(&crade(&[("years", Value::List(vec![]))])).expect_err("crade has no years");
    assert!(err.to_string().contains("task `crade`: unknown field `years`"), "{err}");
    let err = TaskSpec::from_value(&crade(&[("type", Value::Str("cradle".into()))])).expect_err("no such task");
    assert!(err.to_string().contains("unknown variant `cradle`"), "{err}");
    let no_direction = Value::map([
        ("type", Value::Str("ejmmt".into())),
        ("shots", Value::Int(0)),
        ("years", Value::List(vec![])),
        ("template", Value::Null),
    ]);
    let err = TaskSpec::from_value(&no_direction).expect_err("direction is required");
    assert!(err.to_string().contains("missing field `direction`"), "{err}");
}

#[test]
fn the_jmedbench_schema_lists_the_table() {
    let names = |cs: &mut dyn Iterator<Item = &Constructor>| cs.map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(names(&mut crate::kinds::eval::TASKS.iter()), names(&mut TABLE.iter().map(|r| &r.constructor)));
    for (c, r) in crate::kinds::eval::TASKS.iter().zip(TABLE) {
        let params = |c: &Constructor| c.params.iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!((params(c), c.doc), (params(&r.constructor), r.constructor.doc), "{}", c.name);
    }
}

#[test]
fn every_template_the_table_names_is_built_in_and_every_built_in_one_is_named() {
    let named: BTreeSet<&str> = TABLE.iter().flat_map(|r| r.templates.iter().map(|(_, t)| *t)).collect();
    let built_in: BTreeSet<&str> = super::super::prompt::BUILT_IN.iter().map(|(n, _)| *n).collect();
    assert_eq!(named, built_in);
    for row in TABLE {
        let langs: BTreeSet<Lang> = row.templates.iter().map(|(l, _)| *l).collect();
        assert_eq!(langs.len(), row.templates.len(), "{}: one template per language", row.constructor.name);
    }
    // Each task, in each language its parameters pick, has its template.
    for spec in every_task() {
        assert!(spec.row().template(spec.lang()).is_some(), "{spec:?}");
    }
}

#[test]
fn reads_lists_exactly_the_files_the_readers_open() {
    let data = bundled();
    for spec in every_task() {
        let d = Data::new(&data);
        let task = load(&spec, &d, &data).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        let mut opened = d.opened.into_inner();
        if task.needs_mecab() {
            // The stage builds MeCab from the dictionary for the task's BLEU.
            opened.insert(ipadic(&data).expect("bundled dictionary"));
        }
        let listed: BTreeSet<PathBuf> = files_read(&spec, &data).expect("patterns match").into_iter().collect();
        assert_eq!(listed, opened, "{}", spec.id());
        // Every item names a file that was read.
        let files = task
            .items
            .iter()
            .map(|i| match i {
                Ok(i) => &i.file,
                Err(e) => &e.file,
            })
            .chain(task.pool.iter().map(|i| &i.file));
        for file in files {
            assert!(opened.contains(&data.join(file)), "{}: {file}", spec.id());
        }
    }
}

#[test]
fn reads_names_the_benchmark_files_of_each_task() {
    let spec = |v: Value| TaskSpec::from_value(&v).expect("fits");
    let igakuqa = |lang: &str| {
        spec(Value::map([
            ("type", Value::Str("igakuqa".into())),
            ("shots", Value::Int(3)),
            ("years", Value::List(vec![Value::Int(2018)])),
            ("lang", Value::Str(lang.into())),
            ("template", Value::Str("mine.j2".into())),
        ]))
    };
    assert_eq!(reads(&igakuqa("ja")), ["igakuqa/*/*-[A-Z].jsonl", "igakuqa/prompt.jsonl"]);
    assert_eq!(reads(&igakuqa("en")), ["igakuqa/*/*-[A-Z].jsonl", "igakuqa/*/*-[A-Z]_translate.jsonl"]);
    assert_eq!(template_override(&igakuqa("en")), Some("mine.j2"));
    assert_eq!(igakuqa("en").id(), "igakuqa_en_3shot");
    let plain = |name: &str| {
        TaskSpec::from_value(&Value::map([
            ("type", Value::Str(name.into())),
            ("shots", Value::Int(0)),
            ("template", Value::Null),
        ]))
        .expect("fits")
    };
    assert_eq!(reads(&plain("jmmlu_med")), ["jmmlu/*.csv"]);
    assert_eq!(reads(&plain("jmed_jmmlu")), ["jmed-llm/jmmlu_med.csv"]);
    assert_eq!(reads(&plain("nrner")), ["jmed-llm/nrner.csv"]);
    assert_eq!(reads(&plain("pubmedqa")), ["pubmedqa/pqal.jsonl", "pubmedqa/test_ground_truth.json"]);
    assert_eq!(template_override(&plain("crade")), None);
    let ejmmt = |direction: &str| {
        spec(Value::map([
            ("type", Value::Str("ejmmt".into())),
            ("shots", Value::Int(0)),
            ("direction", Value::Str(direction.into())),
            ("years", Value::List(vec![])),
            ("template", Value::Null),
        ]))
    };
    let mt = ["igakuqa/*/*-[A-Z].jsonl", "igakuqa/*/*-[A-Z]_translate.jsonl"];
    assert_eq!(reads(&ejmmt("ja-en")), mt);
    assert_eq!(reads(&ejmmt("en-ja")), [mt[0], mt[1], "ipadic/*.tar.xz"]);
}

#[test]
fn a_data_folder_without_the_official_prompts_still_gives_igakuqa() {
    let dir = tempfile::tempdir().expect("temp dir");
    let block = "igakuqa/2021/115-A.jsonl";
    std::fs::create_dir_all(dir.path().join("igakuqa/2021")).expect("mkdir");
    std::fs::copy(bundled().join(block), dir.path().join(block)).expect("copy");
    let spec = TaskSpec::Igakuqa(igakuqa::Spec { shots: 0, years: vec![], lang: Lang::Ja, template: None });
    assert_eq!(files_read(&spec, dir.path()).expect("prompts may be absent"), [dir.path().join(block)]);
    let tasks = load_all(&[spec], dir.path(), dir.path()).expect("loads");
    assert!(!tasks[0].items.is_empty());
}
