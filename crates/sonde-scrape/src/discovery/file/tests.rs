use std::time::Duration;

use super::*;

fn cfg(dir: &Path, refresh: Duration) -> SdConfig {
    SdConfig::File(FileSdConfig {
        files: vec![
            format!("{}/*.json", dir.display()),
            format!("{}/*.yml", dir.display()),
        ],
        refresh_interval: refresh,
    })
}

async fn next(rx: &mut mpsc::Receiver<Vec<Group>>) -> Vec<Group> {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no file SD update within 20s")
        .expect("file SD stopped")
}

#[tokio::test]
async fn reads_watches_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    std::fs::write(
        &a,
        r#"[{"targets": ["h1:1", "h2:2"], "labels": {"env": "p"}}, {"targets": ["h3:3"]}]"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("b.yml"), "- targets: ['h4:4']\n").unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "x").unwrap();
    let metrics = Arc::new(DiscoveryMetrics::default());
    let (tx, mut rx) = mpsc::channel(4);
    let task = tokio::spawn(
        build(&cfg(dir.path(), Duration::from_millis(50)))
            .unwrap()
            .run(tx, metrics.clone()),
    );

    let first = next(&mut rx).await;
    assert_eq!(first.len(), 3);
    let a_str = a.display().to_string();
    assert_eq!(first[0].source, format!("{a_str}:0"));
    assert_eq!(first[0].labels.get(FILEPATH_LABEL), Some(a_str.as_str()));
    assert_eq!(first[0].labels.get("env"), Some("p"));
    assert_eq!(first[0].targets.len(), 2);

    // A broken file keeps its groups: later updates do not delete them.
    std::fs::write(&a, "[{").unwrap();
    while metrics
        .file_read_errors
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        next(&mut rx).await;
    }
    let u = next(&mut rx).await;
    assert!(u.iter().all(|g| !g.source.starts_with(&a_str)), "{u:?}");
    // One group fewer: the vanished source gets an empty group.
    std::fs::write(&a, r#"[{"targets": ["h1:1"]}]"#).unwrap();
    loop {
        let u = next(&mut rx).await;
        let vanished = |g: &Group| g.source == format!("{a_str}:1") && g.targets.is_empty();
        if u.iter().any(vanished) {
            let g0 = u.iter().find(|g| g.source == format!("{a_str}:0")).unwrap();
            assert_eq!(g0.targets.len(), 1);
            break;
        }
    }
    std::fs::remove_file(&a).unwrap();
    loop {
        let u = next(&mut rx).await;
        let vanished = |g: &Group| g.source == format!("{a_str}:0") && g.targets.is_empty();
        if u.iter().any(vanished) {
            break;
        }
    }
    task.abort();
}

#[test]
fn read_file_reports_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");
    std::fs::write(&p, r#"[{"targets": ["a:1"], "labels": {"1x": "y"}}]"#).unwrap();
    let e = read_file(&p).unwrap_err();
    assert!(
        e.contains("x.json") && e.contains("\"1x\" is not a valid label name"),
        "{e}"
    );
}
