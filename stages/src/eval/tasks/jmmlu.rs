//! JMMLU's medical subjects: `<data>/jmmlu/<subject>.csv`, no header, the columns
//! question, A, B, C, D, answer letter.

use super::{choice_item, csv_rows, Data, ItemError, Items, Read};
use crate::StageError;

/// Every subject's questions.
pub const SUBJECTS: &str = "jmmlu/*.csv";

/// The files `load` reads, relative to the data folder, with whether each may be absent.
pub(super) fn reads() -> Vec<(String, bool)> {
    vec![(SUBJECTS.to_string(), false)]
}

/// Every question of every subject, grouped by subject; a row without six columns is a
/// failed item.
pub(super) fn load(data: &Data) -> Result<Read, StageError> {
    let mut items: Items = Vec::new();
    for path in data.expand(SUBJECTS)? {
        let file = data.relative(&path);
        let subject = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        for (n, row) in csv_rows(data, &path, false)?.into_iter().enumerate() {
            let id = format!("{subject}:{}", n + 1);
            items.push(row.map_err(|m| ItemError { id: id.clone(), file: file.clone(), message: m }).and_then(|row| {
                if row.len() < 6 {
                    return Err(ItemError {
                        id: id.clone(),
                        file: file.clone(),
                        message: format!("{} columns, expected question, A, B, C, D, answer", row.len()),
                    });
                }
                let options = row[1..5].iter().map(|(_, v)| v.clone()).collect();
                choice_item(&file, id.clone(), &subject, &row[0].1, options, &row[5].1)
            }));
        }
    }
    Ok(Read::items(items))
}
