//! Target group files (file SD, HTTP SD responses, `static_config` files):
//! a YAML or JSON list of `{targets: [...], labels: {...}}`, read strictly.

use crate::de::{Ctx, FromNode};
use crate::error::{ConfigError, Diagnostic};
use crate::locate::{self, NodeKind};
use crate::sd::TargetGroup;

/// Parses `text` (YAML or JSON) as a list of target groups, or as a single
/// group when the top level is a mapping. `name` is used in messages.
pub fn parse_target_groups(text: &str, name: &str) -> Result<Vec<TargetGroup>, ConfigError> {
    let root = locate::parse(text).map_err(|e| {
        ConfigError::Invalid(vec![Diagnostic {
            file: name.to_string(),
            line: e.mark.line,
            col: e.mark.col,
            path: String::new(),
            message: format!("syntax error: {}", e.message),
        }])
    })?;
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let mut cx = Ctx::new(name);
    let groups = match &root.kind {
        NodeKind::Map(_) => TargetGroup::from_node(&root, &mut cx).into_iter().collect(),
        _ if root.is_null() => Vec::new(),
        _ => Vec::<TargetGroup>::from_node(&root, &mut cx).unwrap_or_default(),
    };
    if cx.errors.is_empty() {
        Ok(groups)
    } else {
        Err(ConfigError::Invalid(cx.errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_lists() {
        let json =
            r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]"#;
        let groups = parse_target_groups(json, "t.json").unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets, vec!["a:1", "b:2"]);
        assert_eq!(groups[0].labels.get("env"), Some("prod"));
        let yaml = "- targets: [x:1]\n  labels:\n    job: j\n";
        assert_eq!(
            parse_target_groups(yaml, "t.yml").unwrap()[0]
                .labels
                .get("job"),
            Some("j")
        );
        assert!(parse_target_groups("", "empty.yml").unwrap().is_empty());
    }

    #[test]
    fn bad_groups_name_the_place() {
        let err = parse_target_groups("- targets: [x:1]\n  lables: {}\n", "t.yml").unwrap_err();
        assert_eq!(err.diagnostics()[0].line, 2);
        assert!(err.to_string().contains("did you mean labels?"), "{err}");
    }
}
