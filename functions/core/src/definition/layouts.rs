//! Email layouts as the Knock CLI pulls them: `layouts/<key>/layout.json` with
//! `"html_layout@": "html_layout.html"` and `"text_layout@": "text_layout.txt"`, each a Liquid
//! template with a `{{ content }}` slot the rendered email body goes into.

use std::path::Path;

use serde_json::Value;

use super::files::WorkflowFiles;
use super::DefinitionError;
use crate::template::Template;

/// One email layout.
#[derive(Debug)]
pub struct Layout {
    /// Its key (`default`, …): an email template's `settings.layout_key`.
    pub key: String,
    /// The HTML layout.
    pub html: Template,
    /// The text layout.
    pub text: Template,
}

/// Reads every `layouts/<key>/layout.json` of `files`.
pub(super) fn load_layouts(
    files: &WorkflowFiles,
    parser: &liquid::Parser,
) -> Result<Vec<Layout>, DefinitionError> {
    let mut layouts = Vec::new();
    for key in files.subfolders_with(Path::new("layouts"), "layout.json") {
        let folder = Path::new("layouts").join(&key);
        let rel = folder.join("layout.json");
        let file = files.display(&rel);
        let Some(text) = files.text(&rel) else {
            continue;
        };
        let mut value: Value = serde_json::from_str(&text?)
            .map_err(|e| DefinitionError::file(&file, format!("invalid JSON: {e}")))?;
        super::load::inline_file_refs(&mut value, files, &folder, &file)?;
        if let Some(Value::String(declared)) = value.get("key") {
            if *declared != key {
                return Err(DefinitionError::file(
                    &file,
                    format!("`key` is `{declared}` but the folder is `{key}`"),
                ));
            }
        }
        let part = |field: &str| -> Result<Template, DefinitionError> {
            let source = match value.get(field) {
                Some(Value::String(s)) => s.as_str(),
                None | Some(Value::Null) => "{{ content }}",
                Some(_) => {
                    return Err(DefinitionError::file(
                        &file,
                        format!("`{field}` must be a string"),
                    ))
                }
            };
            if !source.contains("content") {
                return Err(DefinitionError::file(
                    &file,
                    format!("`{field}` has no `{{{{ content }}}}` slot"),
                ));
            }
            Template::parse(parser, source)
                .map_err(|e| DefinitionError::file(&file, format!("`{field}`: {e}")))
        };
        layouts.push(Layout {
            html: part("html_layout")?,
            text: part("text_layout")?,
            key,
        });
    }
    Ok(layouts)
}
