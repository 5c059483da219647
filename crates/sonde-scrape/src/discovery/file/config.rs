//! `file_sd_configs`: target groups read from JSON or YAML files.

use std::time::Duration;

/// Prometheus' default `refresh_interval` for file SD.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSdConfig {
    /// Paths or globs (`*` only in the last path element) ending in
    /// `.json`, `.yml` or `.yaml`.
    pub files: Vec<String>,
    /// Re-read every file this often, besides reacting to file changes.
    pub refresh_interval: Duration,
}

impl FileSdConfig {
    /// Checks every pattern as Prometheus does; returns all errors.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let errs: Vec<String> = self
            .files
            .iter()
            .filter(|f| !valid_pattern(f))
            .map(|f| {
                format!(
                    "path name {f:?} is not valid for file discovery (expected a path or a glob in its last element, ending in .json, .yml or .yaml)"
                )
            })
            .collect();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`
fn valid_pattern(p: &str) -> bool {
    let Some((stem, ext)) = p.rsplit_once('.') else {
        return false;
    };
    if !matches!(ext, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.find('*') {
        None => true,
        Some(i) => !stem[i + 1..].contains('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(valid_pattern("/a/b/*.json"));
        assert!(valid_pattern("a.yml"));
        assert!(valid_pattern("/a/*x*.YAML"));
        assert!(!valid_pattern("/a/*/b.json"));
        assert!(!valid_pattern("/a/b.txt"));
        let c = FileSdConfig {
            files: vec!["x.txt".into()],
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        };
        assert_eq!(c.validate().unwrap_err().len(), 1);
    }
}
