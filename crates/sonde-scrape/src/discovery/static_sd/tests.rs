use std::collections::BTreeMap;

use super::*;

#[tokio::test]
async fn sends_groups_once_with_index_sources() {
    let g = Group::from_parts(String::new(), &["a:1".to_string()], &BTreeMap::new()).unwrap();
    let cfg = SdConfig::Static(StaticConfig::new(vec![g.clone(), g]));
    let d = build(&cfg).unwrap();
    let (tx, mut rx) = mpsc::channel(1);
    d.run(tx, Default::default()).await;
    let got = rx.recv().await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].source, "1");
    assert!(rx.recv().await.is_none());
}
