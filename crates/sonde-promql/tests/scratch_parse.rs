#[test]
fn show() {
    for q in std::fs::read_to_string("/tmp/qa/bad.txt").unwrap().lines() {
        match sonde_promql::parse(q) {
            Ok(_) => println!("{q}\tOK"),
            Err(e) => println!("{q}\t{e}"),
        }
    }
}
