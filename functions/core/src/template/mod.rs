//! Liquid templates (Knock's template language) and their markdown rendering.

mod lenient;

use serde_json::Value;
use thiserror::Error;

/// A template failed to render.
#[derive(Debug, Error)]
#[error("template error: {0}")]
pub struct TemplateError(pub String);

/// Builds the Liquid parser Herald uses: Liquid's standard library of tags and filters.
pub fn parser() -> Result<liquid::Parser, TemplateError> {
    liquid::ParserBuilder::with_stdlib()
        .build()
        .map_err(|e| TemplateError(e.to_string()))
}

/// A parsed Liquid template, with its source kept for display.
pub struct Template {
    source: String,
    compiled: liquid::Template,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .finish()
    }
}

impl Template {
    /// Parses `source`; a syntax error is reported with Liquid's message.
    pub fn parse(parser: &liquid::Parser, source: &str) -> Result<Self, TemplateError> {
        let compiled = parser
            .parse(source)
            .map_err(|e| TemplateError(e.to_string()))?;
        Ok(Self {
            source: source.to_string(),
            compiled,
        })
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders against `scope`, a JSON object whose keys are the template's variables. A missing
    /// variable renders as nothing, as in Knock.
    pub fn render(&self, scope: &Value) -> Result<String, TemplateError> {
        let scope = lenient::Scope::new(scope);
        self.compiled
            .render(scope.globals())
            .map_err(|e| TemplateError(e.to_string()))
    }
}

/// Renders markdown to HTML, as Knock fills a feed block's `rendered` field.
pub fn markdown_to_html(markdown: &str) -> String {
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(markdown));
    html
}

/// The text part of an email whose template gives only HTML, as Knock derives it: the HTML
/// laid out as plain text, links kept as footnotes.
pub fn html_to_text(html: &str) -> String {
    // 78 columns: the line length RFC 5322 recommends.
    html2text::from_read(html.as_bytes(), 78).unwrap_or_else(|_| html.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_variables_and_filters() {
        let p = parser().unwrap();
        let t =
            Template::parse(&p, "Hi {{ recipient.name | upcase }}, {{ data.count }} new").unwrap();
        let out = t
            .render(&json!({"recipient": {"name": "ann"}, "data": {"count": 3}}))
            .unwrap();
        assert_eq!(out, "Hi ANN, 3 new");
    }

    #[test]
    fn missing_variables_render_empty_at_any_depth() {
        let p = parser().unwrap();
        let render = |src: &str| {
            Template::parse(&p, src)
                .unwrap()
                .render(&json!({"data": {"items": [1, 2, 3], "name": "x"}, "actor": null}))
                .unwrap()
        };
        assert_eq!(
            render("[{{ actor.name }}][{{ nope }}][{{ data.a.b.c }}]"),
            "[][][]"
        );
        assert_eq!(render("{{ actor.name | default: 'someone' }}"), "someone");
        assert_eq!(render("{% if actor %}yes{% else %}no{% endif %}"), "no");
        assert_eq!(render("{% if data.name %}yes{% endif %}"), "yes");
        assert_eq!(render("{% for i in data.items %}{{ i }}{% endfor %}|{{ data.items.size }}|{{ data.items.last }}|{{ data.items[-1] }}"), "123|3|3|3");
        assert_eq!(
            render("{{ data.items | join: ',' }} {{ data.name | upcase }}"),
            "1,2,3 X"
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        let p = parser().unwrap();
        assert!(Template::parse(&p, "{% if %}").is_err());
    }

    #[test]
    fn html_becomes_text() {
        let text =
            html_to_text("<p>Hi <b>Ann</b></p><p><a href=\"https://x.test/a\">Accept</a></p>");
        assert!(
            text.contains("Hi") && text.contains("Ann") && text.contains("Accept"),
            "{text}"
        );
        assert!(text.contains("https://x.test/a"), "{text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn markdown_renders_to_html() {
        assert_eq!(markdown_to_html("**hi**"), "<p><strong>hi</strong></p>\n");
    }
}
