//! The HTML page: sections, figures and notes, escaped text, number formats, the style
//! sheet.

use std::fmt::Write as _;

#[derive(Default)]
pub(super) struct Page {
    pub(super) html: String,
    pub(super) plots: usize,
    pub(super) sections: Vec<String>,
}

impl Page {
    /// The whole HTML document: title, navigation to the sections, and the sections
    /// (the last one closed).
    pub(super) fn document(&self, title: &str) -> String {
        let nav: String = self
            .sections
            .iter()
            .map(|s| format!("<a href=\"#{s}\">{s}</a>"))
            .collect::<Vec<_>>()
            .join(" · ");
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
             <style>{CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>\n<nav>{nav}</nav>\n{body}</section>\n</body>\n</html>\n",
            title = esc(title),
            body = self.html
        )
    }

    pub(super) fn section(&mut self, id: &str, title: &str) {
        if !self.sections.is_empty() {
            self.html.push_str("</section>\n");
        }
        self.sections.push(id.to_string());
        let _ = writeln!(self.html, "<section id=\"{id}\">\n<h2>{}</h2>", esc(title));
    }

    pub(super) fn figure(&mut self, id: &str, svg: &str, caption: &str) {
        self.plots += 1;
        let _ = writeln!(
            self.html,
            "<figure class=\"plot\" id=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
            esc(id),
            esc(caption)
        );
    }

    pub(super) fn note(&mut self, text: &str) {
        let _ = writeln!(self.html, "<p class=\"note\">{}</p>", esc(text));
    }
}

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Three decimals, without a minus sign on a value that rounds to zero.
pub(super) fn fmt3(v: f64) -> String {
    let v = if (v * 1000.0).round() == 0.0 { 0.0 } else { v };
    format!("{v:.3}")
}

pub(super) fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

pub(super) fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;\
color:#222;max-width:1400px}h1{margin-bottom:4px}nav{margin-bottom:16px}nav a{margin-right:4px}\
section{margin-top:28px;border-top:1px solid #ddd;padding-top:8px}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;\
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}\
.grid{display:flex;flex-wrap:wrap;gap:12px}figure.plot{margin:0;border:1px solid #e3e3e3;padding:4px}\
figcaption{font-size:12px;color:#555;max-width:560px}.note{color:#777;font-style:italic}\
table.cm td{min-width:28px;text-align:center}code{font-size:12px}";
