//! The files of a workflows folder, wherever they come from: read from disk by the local server,
//! compiled into the functions for the Lambdas. Loading works on this set alone.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::DefinitionError;

/// Workflow files by their path inside the workflows folder (`welcome/workflow.json`).
#[derive(Debug, Clone, Default)]
pub struct WorkflowFiles {
    root: PathBuf,
    files: BTreeMap<PathBuf, Vec<u8>>,
}

/// `path` with `.` segments dropped; `None` if it is absolute or climbs out (`..`).
fn inside(path: &Path) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

impl WorkflowFiles {
    /// An empty set; `root` names the folder in error messages.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            files: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the file at `path` inside the folder.
    pub fn insert(&mut self, path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) {
        if let Some(path) = inside(path.as_ref()) {
            self.files.insert(path, contents.into());
        }
    }

    /// Every file under `dir`, read from disk.
    pub fn read_dir(dir: &Path) -> Result<Self, DefinitionError> {
        let mut files = Self::new(dir);
        let mut pending = vec![PathBuf::new()];
        while let Some(rel) = pending.pop() {
            let here = dir.join(&rel);
            let entries = std::fs::read_dir(&here)
                .map_err(|e| DefinitionError::file(&here, format!("cannot read: {e}")))?;
            for entry in entries.filter_map(Result::ok) {
                let path = rel.join(entry.file_name());
                let full = dir.join(&path);
                if full.is_dir() {
                    pending.push(path);
                } else {
                    let bytes = std::fs::read(&full)
                        .map_err(|e| DefinitionError::file(&full, format!("cannot read: {e}")))?;
                    files.files.insert(path, bytes);
                }
            }
        }
        Ok(files)
    }

    /// The path of `rel` as error messages show it.
    pub fn display(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    /// The text of the file at `rel`: `None` if there is none (or `rel` leaves the folder).
    pub fn text(&self, rel: &Path) -> Option<Result<String, DefinitionError>> {
        let path = inside(rel)?;
        let bytes = self.files.get(&path)?;
        Some(String::from_utf8(bytes.clone()).map_err(|_| {
            DefinitionError::file(self.display(&path), "cannot read: the file is not UTF-8")
        }))
    }

    /// The folders directly under `parent` holding a file named `file`, sorted
    /// (`layouts/<key>/layout.json` → `key`).
    pub fn subfolders_with(&self, parent: &Path, file: &str) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|p| {
                let rest = p.strip_prefix(parent).ok()?;
                let mut parts = rest.components();
                let folder = parts.next()?.as_os_str().to_str()?.to_string();
                (parts.next()?.as_os_str() == file && parts.next().is_none()).then_some(folder)
            })
            .collect()
    }

    /// The workflow folders (those holding a `workflow.json`), sorted.
    pub fn workflow_folders(&self) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|p| {
                let mut parts = p.components();
                let folder = parts.next()?;
                let is_workflow = parts.next()?.as_os_str() == "workflow.json";
                (is_workflow && parts.next().is_none())
                    .then(|| folder.as_os_str().to_str().map(str::to_string))
                    .flatten()
            })
            .collect()
    }
}
