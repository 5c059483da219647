//! `cargo run -p sonde-config --example check -- prometheus.yml`: loads a
//! file and prints every problem, or the effective configuration.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check <prometheus.yml>");
        std::process::exit(2);
    };
    match sonde_config::load_file(&path) {
        Ok(cfg) => print!("{}", sonde_config::to_yaml(&cfg)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
