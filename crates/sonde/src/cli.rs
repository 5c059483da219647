//! The command line. `sonde server` takes Prometheus' flags with the same
//! names and defaults, so existing service and compose files keep working;
//! plain `sonde` is `sonde server` with every default.

use std::collections::BTreeSet;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "sonde",
    version,
    about = "Monitoring for fleets of application servers, in one binary."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand, `sonde` runs the server with these flags.
    #[command(flatten)]
    pub server: ServerArgs,
}

// One value, parsed once at start: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: storage, scraping, query API (the default).
    Server(ServerArgs),
    /// Run a PromQL query against a server and print the result.
    Query(crate::query_cli::QueryArgs),
    /// Check configuration files and metrics, like promtool.
    #[command(subcommand)]
    Check(crate::check::CheckCommand),
    /// Inspect, dump and backfill a data directory, like `promtool tsdb`.
    #[command(subcommand)]
    Tsdb(crate::tsdb_cli::TsdbCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Flags of `sonde server`, named as Prometheus 2.42 names them.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Configuration file (prometheus.yml syntax). When the default file does
    /// not exist, Sonde runs with a built-in configuration that scrapes itself.
    #[arg(long = "config.file", default_value = "prometheus.yml")]
    pub config_file: String,

    /// Address to listen on for the UI, API and telemetry. Each --web.*
    /// flag given on the command line wins over the configuration file's
    /// web: key; the file's key wins over the flag's default.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub listen_address: String,

    /// URL under which Sonde is reached from outside (e.g. behind a reverse
    /// proxy). Its path becomes the route prefix. Default: http://<hostname>:<port>/.
    /// File key: web.external_url.
    #[arg(long = "web.external-url", default_value = "")]
    pub external_url: String,

    /// Prefix for all routes. Default: the path of --web.external-url.
    /// File key: web.route_prefix.
    #[arg(long = "web.route-prefix")]
    pub route_prefix: Option<String>,

    /// Enable shutdown and reload over HTTP (/-/quit, /-/reload).
    /// File key: web.enable_lifecycle.
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// Enable the admin endpoints (/api/v1/admin/*). File key: web.enable_admin_api.
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,

    /// Maximum duration to read a request, headers and body, and to keep an
    /// idle connection open; a slower client gets its connection closed (or
    /// 408 for a late body). 0s: no limit. File key: web.read_timeout
    /// (changes on reload).
    #[arg(long = "web.read-timeout", default_value = "5m")]
    pub read_timeout: String,

    /// Maximum number of simultaneous connections; more wait to be accepted
    /// until one closes. 0: no limit. File key: web.max_connections.
    #[arg(long = "web.max-connections", default_value_t = 512)]
    pub max_connections: u32,

    /// Regex for CORS origin. It is fully anchored. Example:
    /// 'https?://(domain1|domain2)\.com'. File key: web.cors_origin (changes
    /// on reload).
    #[arg(long = "web.cors.origin", default_value = ".*")]
    pub cors_origin: String,

    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    pub tsdb_path: String,

    /// How long to retain samples in storage (default 15d).
    #[arg(long = "storage.tsdb.retention.time", default_value = "15d")]
    pub retention_time: String,

    /// Maximum bytes of storage blocks to retain; 0 disables (units: B, KB, MB, GB, TB, PB, EB).
    #[arg(long = "storage.tsdb.retention.size", default_value = "0B")]
    pub retention_size: String,

    /// Time span of the blocks cut from the head (Prometheus' hidden flag;
    /// small values make blocks, checkpoints and compaction happen sooner).
    #[arg(
        long = "storage.tsdb.min-block-duration",
        default_value = "2h",
        hide = true
    )]
    pub min_block_duration: String,

    /// Size at which a WAL segment file is closed and the next one started
    /// (units: B, KB, MB, GB; at least 4KB). 0B: 128MB.
    #[arg(
        long = "storage.tsdb.wal-segment-size",
        default_value = "0B",
        hide = true
    )]
    pub wal_segment_size: String,

    /// When an acknowledged write is fsynced: `always` (before the answer,
    /// group-committed: survives power loss), a duration such as `1s` (the
    /// answer follows the write to the OS, so a crash of Sonde loses
    /// nothing; a power loss can lose up to that long), or `never` (only at
    /// segment cut and shutdown).
    #[arg(long = "storage.tsdb.wal-fsync", default_value = "always")]
    pub wal_fsync: String,

    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub query_timeout: String,

    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: u64,

    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub query_max_concurrency: u32,

    /// How far back to look for a sample when evaluating an instant vector.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub query_lookback_delta: String,

    /// Memory for cached range query results, reused by repeated dashboard
    /// refreshes (units: B, KB, MB, GB; 0 disables the cache).
    #[arg(long = "query.result-cache-size", default_value = "64MB")]
    pub query_result_cache_size: String,

    /// Comma-separated Prometheus feature flags. Honoured:
    /// `promql-per-step-stats` (`stats=all` reports samples per step).
    /// Others are accepted and ignored, so Prometheus' command lines work.
    #[arg(long = "enable-feature", value_delimiter = ',')]
    pub enable_feature: Vec<String>,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,

    /// The ids (field names) of the flags given on the command line or in
    /// the environment, as opposed to left at their defaults.
    #[arg(skip)]
    pub given: BTreeSet<String>,
}

impl Cli {
    /// Parses the process' command line (exiting with clap's message when
    /// it is wrong), noting which server flags were given.
    pub fn parse_noting_given() -> Cli {
        let matches = Cli::command().get_matches();
        Cli::from_matches_noting_given(&matches).unwrap_or_else(|e| e.exit())
    }

    /// Like [`Cli::parse_noting_given`], from `args`.
    #[cfg(test)]
    pub fn try_parse_noting_given<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(args)?;
        Cli::from_matches_noting_given(&matches)
    }

    fn from_matches_noting_given(matches: &ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        match &mut cli.command {
            None => cli.server.given = given(matches),
            Some(Command::Server(args)) => {
                if let Some(sub) = matches.subcommand_matches("server") {
                    args.given = given(sub);
                }
            }
            Some(_) => {}
        }
        Ok(cli)
    }
}

/// The ids of the arguments in `matches` that the user set (on the command
/// line or through an environment variable), not clap's defaults.
fn given(matches: &ArgMatches) -> BTreeSet<String> {
    matches
        .ids()
        .filter(|id| {
            matches!(
                matches.value_source(id.as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
        .map(|id| id.as_str().to_string())
        .collect()
}

impl ServerArgs {
    /// Whether the flag with clap id `id` (its field name) was given rather
    /// than left at its default.
    pub fn is_given(&self, id: &str) -> bool {
        self.given.contains(id)
    }

    /// Whether `--enable-feature` names `name`.
    pub fn feature(&self, name: &str) -> bool {
        self.enable_feature.iter().any(|f| f.trim() == name)
    }

    /// Every flag but the `--web.*` ones and its value as a string, for
    /// `/api/v1/status/flags`; the server adds the web settings in force
    /// (`WebSettings::flag_values`), which may come from the config file.
    pub fn flag_values(&self) -> std::collections::BTreeMap<String, String> {
        let level = format!("{:?}", self.log_level).to_lowercase();
        let format = format!("{:?}", self.log_format).to_lowercase();
        [
            ("config.file", self.config_file.clone()),
            ("storage.tsdb.path", self.tsdb_path.clone()),
            ("storage.tsdb.retention.time", self.retention_time.clone()),
            ("storage.tsdb.retention.size", self.retention_size.clone()),
            (
                "storage.tsdb.min-block-duration",
                self.min_block_duration.clone(),
            ),
            (
                "storage.tsdb.wal-segment-size",
                self.wal_segment_size.clone(),
            ),
            ("storage.tsdb.wal-fsync", self.wal_fsync.clone()),
            ("query.timeout", self.query_timeout.clone()),
            ("query.max-samples", self.query_max_samples.to_string()),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query.lookback-delta", self.query_lookback_delta.clone()),
            (
                "query.result-cache-size",
                self.query_result_cache_size.clone(),
            ),
            ("enable-feature", self.enable_feature.join(",")),
            ("log.level", level),
            ("log.format", format),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_flags_parse_with_and_without_subcommand() {
        let cli = Cli::try_parse_from([
            "sonde",
            "--config.file=/etc/prometheus/prometheus.yml",
            "--web.enable-lifecycle",
            "--storage.tsdb.path",
            "/prometheus",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.server.config_file, "/etc/prometheus/prometheus.yml");
        assert!(cli.server.enable_lifecycle);
        assert_eq!(cli.server.tsdb_path, "/prometheus");

        let cli = Cli::try_parse_from(["sonde", "server", "--log.format=json"]).unwrap();
        let Some(Command::Server(args)) = cli.command else {
            panic!("expected server")
        };
        assert_eq!(args.log_format, LogFormat::Json);
        assert_eq!(args.listen_address, "0.0.0.0:9090");
    }

    #[test]
    fn feature_flags_are_a_comma_separated_list() {
        let cli = Cli::try_parse_from([
            "sonde",
            "--enable-feature=promql-per-step-stats,exemplar-storage",
        ])
        .unwrap();
        assert!(cli.server.feature("promql-per-step-stats"));
        assert!(!cli.server.feature("promql-at-modifier"));
    }

    #[test]
    fn given_flags_are_told_apart_from_defaults() {
        let cli = Cli::try_parse_noting_given([
            "sonde",
            "--web.listen-address=0.0.0.0:9090",
            "--web.enable-lifecycle",
        ])
        .unwrap();
        assert!(
            cli.server.is_given("listen_address"),
            "{:?}",
            cli.server.given
        );
        assert!(cli.server.is_given("enable_lifecycle"));
        assert!(!cli.server.is_given("max_connections"));
        assert!(!cli.server.is_given("cors_origin"));
        let cli =
            Cli::try_parse_noting_given(["sonde", "server", "--web.max-connections=3"]).unwrap();
        let Some(Command::Server(args)) = cli.command else {
            panic!("expected server")
        };
        assert!(args.is_given("max_connections"));
        assert!(!args.is_given("listen_address"));
    }

    /// The flags' defaults are the `web:` section's, so a key left out of
    /// the file and a flag left out of the command line mean the same.
    #[test]
    fn web_flag_defaults_are_the_config_defaults() {
        let args = Cli::try_parse_from(["sonde"]).unwrap().server;
        let web = sonde_config::web::WebConfig::default();
        assert_eq!(args.listen_address, web.listen_address);
        assert_eq!(args.external_url, web.external_url);
        assert_eq!(args.enable_lifecycle, web.enable_lifecycle);
        assert_eq!(args.enable_admin_api, web.enable_admin_api);
        assert_eq!(
            sonde_model::parse_duration(&args.read_timeout).unwrap(),
            web.read_timeout
        );
        assert_eq!(args.max_connections, web.max_connections);
        assert_eq!(args.cors_origin, web.cors_origin);
    }

    #[test]
    fn bad_flag_value_is_an_error() {
        assert!(Cli::try_parse_from(["sonde", "--log.level=loud"]).is_err());
        assert!(Cli::try_parse_from(["sonde", "--query.max-samples=many"]).is_err());
    }
}
