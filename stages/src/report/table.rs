//! A table of text cells, written as Markdown, HTML or CSV: one source for the three.
//! Cells are text, escaped for each format ([`super::text`]).

use super::text::{html, markdown};

pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn to_markdown(&self) -> String {
        let row = |cells: &[String]| cells.iter().map(|c| markdown(c)).collect::<Vec<_>>().join(" | ");
        let mut out = format!("| {} |\n", row(&self.header));
        out.push_str(&format!(
            "|{}\n",
            self.header.iter().enumerate().map(|(i, _)| if i == 0 { "---|" } else { "---:|" }).collect::<String>()
        ));
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", row(r)));
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut out = String::from("<table>\n<tr>");
        for h in &self.header {
            out.push_str(&format!("<th>{}</th>", html(h)));
        }
        out.push_str("</tr>\n");
        for r in &self.rows {
            out.push_str("<tr>");
            for c in r {
                out.push_str(&format!("<td>{}</td>", html(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }

    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.header).expect("in memory");
        for r in &self.rows {
            w.write_record(r).expect("in memory");
        }
        String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 cells")
    }
}
