//! End to end: the configuration file's `web:` section and the `--web.*`
//! flags. The file's keys apply, a flag given on the command line wins over
//! the file, and the HTTP server's own limits (read timeout, connection
//! limit, CORS) behave as Prometheus' do. Raw TCP clients stand for slow
//! and many clients; every wait is bounded, none is asserted on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{get, post, Sonde};

/// Writes `text` as the configuration file in `dir`; returns the flag.
fn config_file(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("sonde.yml");
    std::fs::write(&path, text).unwrap();
    format!("--config.file={}", path.display())
}

/// Connects to `addr` and sends `request` (possibly incomplete); reads
/// wait at most `wait`.
fn send(addr: &str, request: &[u8], wait: Duration) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    stream
}

/// Reads until the server closes the connection (or resets it), or the
/// read times out; returns what came and whether the server closed.
fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into_owned(), true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (String::from_utf8_lossy(&got).into_owned(), false)
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads one response's head (up to the blank line); `None` when none
/// came before the read timed out.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => got.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    Some(String::from_utf8_lossy(&got).into_owned())
}

const HEALTHY: &[u8] = b"GET /-/healthy HTTP/1.1\r\nHost: sonde\r\n\r\n";

/// The file's `route_prefix` and `enable_lifecycle` apply; `--web.route-prefix`
/// given on the command line wins over the file's.
#[test]
fn file_keys_apply_and_a_command_line_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "scrape_configs: []\nweb:\n  route_prefix: /from-file\n  enable_lifecycle: true\n",
    );
    let sonde = Sonde::start_in(dir, &[config.as_str()]);
    assert_eq!(get(&sonde.url("/from-file/-/ready")).0, 200);
    assert_eq!(
        post(&sonde.url("/from-file/-/reload")).0,
        200,
        "lifecycle from the file"
    );
    // /api/v1/status/flags shows what is in force, the file's included.
    let (_, flags) = get(&sonde.url("/from-file/api/v1/status/flags"));
    assert!(
        flags.contains(r#""web.route-prefix":"/from-file""#),
        "{flags}"
    );
    assert!(
        flags.contains(r#""web.enable-lifecycle":"true""#),
        "{flags}"
    );
    assert!(flags.contains(r#""web.read-timeout":"5m""#), "{flags}");
    drop(sonde);

    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "scrape_configs: []\nweb:\n  route_prefix: /from-file\n",
    );
    let sonde = Sonde::start_in(dir, &[config.as_str(), "--web.route-prefix=/from-flag"]);
    assert_eq!(get(&sonde.url("/from-flag/-/ready")).0, 200);
    assert_eq!(get(&sonde.url("/from-file/-/ready")).0, 404);
    // Without --web.enable-lifecycle or the file's key: the default.
    assert_eq!(post(&sonde.url("/from-flag/-/reload")).0, 403);
}

/// With no `--web.listen-address` on the command line the server listens
/// where the file says.
#[test]
fn the_file_listen_address_applies_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "scrape_configs: []\nweb:\n  listen_address: 127.0.0.1:0\n",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sonde"));
    cmd.arg("server")
        .arg(&config)
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .current_dir(dir.path());
    let sonde = Sonde::spawn(cmd, dir);
    assert!(sonde.addr.starts_with("127.0.0.1:"), "{}", sonde.addr);
    assert_ne!(sonde.addr, "127.0.0.1:9090");
    sonde.wait_ready();
    assert_eq!(get(&sonde.url("/-/ready")).0, 200);
}

/// Sends `request` (a body cut short) and expects 408, then the close.
fn assert_408_and_closed(addr: &str, request: &[u8], wait: Duration) {
    let mut stream = send(addr, request, wait);
    let (got, closed) = read_until_closed(&mut stream);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(closed, "{got}");
}

/// A client that sends half a request has its connection closed; one that
/// sends its headers but not all of its body gets 408; others are served.
#[test]
fn the_read_timeout_closes_stalled_requests() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::empty_config(dir.path());
    let sonde = Sonde::start_in(dir, &[config.as_str(), "--web.read-timeout=1s"]);
    let wait = Duration::from_secs(60);

    let mut half_head = send(&sonde.addr, b"GET /-/healthy HTTP/1.1\r\nHost: s", wait);
    let (got, closed) = read_until_closed(&mut half_head);
    assert!(closed, "a half-sent request kept its connection: {got:?}");
    assert!(!got.contains("200"), "{got}");

    // Headers whole, 8 of the 100 bytes of body announced.
    let half_body = b"POST /api/v1/query HTTP/1.1\r\nHost: s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nquery=up";
    assert_408_and_closed(&sonde.addr, half_body, wait);
    // A push endpoint answers the 408 itself, so its own request counter
    // has the status the client got.
    let half_push = b"POST /api/v1/write HTTP/1.1\r\nHost: s\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: 100\r\n\r\nabc";
    assert_408_and_closed(&sonde.addr, half_push, wait);

    assert_eq!(get(&sonde.url("/-/healthy")).0, 200);
    let (_, metrics) = get(&sonde.url("/metrics"));
    assert!(
        metrics.contains("sonde_web_read_timeouts_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sonde_ingest_requests_total{protocol="remote_write",code="408"} 1"#),
        "{metrics}"
    );
}

/// With `--web.max-connections=1`, a second connection is not answered
/// while the first is open, and is answered once it closes.
#[test]
fn max_connections_holds_the_next_connection_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::empty_config(dir.path());
    let sonde = Sonde::start_in(dir, &[config.as_str(), "--web.max-connections=1"]);

    let mut first = send(&sonde.addr, HEALTHY, Duration::from_secs(60));
    let head = read_head(&mut first).expect("the first connection is served");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // Kept alive, the first connection holds the only slot.
    let mut second = send(&sonde.addr, HEALTHY, Duration::from_secs(2));
    assert_eq!(read_head(&mut second), None, "answered beyond the limit");

    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = read_head(&mut second).expect("answered once the first closed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(second);

    let (_, metrics) = get(&sonde.url("/metrics"));
    assert!(metrics.contains("sonde_web_connections_max 1"), "{metrics}");
    assert!(
        metrics.contains("sonde_web_connections_open 1"),
        "{metrics}"
    );
}

/// The value of `name` in the head `head`, lower-cased names.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn api_request(sonde: &Sonde, method: &str, path: &str, origin: &str) -> String {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: s\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
    );
    let mut stream = send(&sonde.addr, request.as_bytes(), Duration::from_secs(60));
    read_head(&mut stream).expect("an answer")
}

/// API answers carry `Access-Control-Allow-Origin` for an origin that
/// matches the file's `cors_origin`, not for one that does not; a reload
/// changes the origin and the read timeout live, and a changed route prefix
/// is logged as needing a restart.
#[test]
fn cors_origin_from_the_file_and_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let web = "scrape_configs: []\nweb:\n  enable_lifecycle: true\n";
    let config = config_file(
        dir.path(),
        &format!("{web}  cors_origin: 'https://good\\.example'\n"),
    );
    let sonde = Sonde::start_in(dir, &[config.as_str()]);
    let path = "/api/v1/status/buildinfo";

    let good = api_request(&sonde, "GET", path, "https://good.example");
    assert!(good.starts_with("HTTP/1.1 200"), "{good}");
    assert_eq!(
        header(&good, "access-control-allow-origin"),
        Some("https://good.example"),
        "{good}"
    );
    assert_eq!(header(&good, "vary"), Some("Origin"), "{good}");
    assert_eq!(
        header(&good, "access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );

    let bad = api_request(&sonde, "GET", path, "https://evil.example");
    assert!(bad.starts_with("HTTP/1.1 200"), "{bad}");
    assert_eq!(header(&bad, "access-control-allow-origin"), None, "{bad}");

    let preflight = api_request(&sonde, "OPTIONS", "/api/v1/query", "https://good.example");
    assert!(preflight.starts_with("HTTP/1.1 204"), "{preflight}");
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        Some("https://good.example")
    );

    // Not an API path: no CORS headers.
    let other = api_request(&sonde, "GET", "/-/healthy", "https://good.example");
    assert_eq!(
        header(&other, "access-control-allow-origin"),
        None,
        "{other}"
    );

    std::fs::write(
        sonde.path().join("sonde.yml"),
        format!(
            "{web}  cors_origin: 'https://other\\.example'\n  route_prefix: /elsewhere\n  read_timeout: 1s\n"
        ),
    )
    .unwrap();
    assert_eq!(post(&sonde.url("/-/reload")).0, 200);
    let line = sonde.wait_for_log("restart Sonde to apply it", Duration::from_secs(30));
    assert!(line.contains("web.route_prefix"), "{line}");
    assert_eq!(
        get(&sonde.url("/-/ready")).0,
        200,
        "the routes stay until a restart"
    );
    // The read timeout changes live, for connections opened after the reload.
    let mut half_head = send(
        &sonde.addr,
        b"GET /-/healthy HTTP/1.1\r\nHost: s",
        Duration::from_secs(60),
    );
    let (got, closed) = read_until_closed(&mut half_head);
    assert!(closed, "the new read timeout did not apply: {got:?}");
    let now = api_request(&sonde, "GET", path, "https://other.example");
    assert_eq!(
        header(&now, "access-control-allow-origin"),
        Some("https://other.example"),
        "{now}"
    );
    let before = api_request(&sonde, "GET", path, "https://good.example");
    assert_eq!(
        header(&before, "access-control-allow-origin"),
        None,
        "{before}"
    );
}

/// With the default `--web.cors.origin`, every origin is allowed as `*`;
/// a request without an `Origin` gets no CORS headers.
#[test]
fn default_cors_origin_allows_all() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::empty_config(dir.path());
    let sonde = Sonde::start_in(dir, &[config.as_str()]);
    let any = api_request(
        &sonde,
        "GET",
        "/api/v1/status/buildinfo",
        "https://x.example",
    );
    assert_eq!(
        header(&any, "access-control-allow-origin"),
        Some("*"),
        "{any}"
    );
    let mut plain = send(
        &sonde.addr,
        b"GET /api/v1/status/buildinfo HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
        Duration::from_secs(60),
    );
    let head = read_head(&mut plain).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "access-control-allow-origin"), None, "{head}");
    assert_eq!(header(&head, "vary"), None, "{head}");
}

/// An invalid `--web.cors.origin` stops the server at start with an error
/// naming the flag and the pattern.
#[test]
fn an_invalid_cors_origin_flag_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::empty_config(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sonde"))
        .arg("server")
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(&config)
        .arg("--web.cors.origin=https://(a|b")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a server that does not refuse the flag would run on.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--web.cors.origin: invalid CORS origin regex \"https://(a|b\""),
        "{stderr}"
    );
}
