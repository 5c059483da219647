//! The schema table of the discovery mechanisms Sonde parses but does not
//! run: keys, types and defaults of Prometheus 2.42, and each one's checks
//! with Prometheus' messages.

use super::generic::{GenericSdConfig, Kind, Schema, SdValue};
use crate::de::Checks;
use crate::url::ConfigUrl;

use Kind::*;

const AWS: &[(&str, Kind, &str)] = &[
    ("endpoint", Str, ""),
    ("region", Str, ""),
    ("access_key", Str, ""),
    ("secret_key", Secret, ""),
    ("profile", Str, ""),
    ("role_arn", Str, ""),
    ("refresh_interval", Duration, "60s"),
    ("port", Int, "80"),
];

const EC2: &[(&str, Kind, &str)] = &[
    ("endpoint", Str, ""),
    ("region", Str, ""),
    ("access_key", Str, ""),
    ("secret_key", Secret, ""),
    ("profile", Str, ""),
    ("role_arn", Str, ""),
    ("refresh_interval", Duration, "60s"),
    ("port", Int, "80"),
    ("filters", Filters, ""),
];

const PORT_REFRESH: &[(&str, Kind, &str)] =
    &[("refresh_interval", Duration, "60s"), ("port", Int, "80")];

const ZOOKEEPER: &[(&str, Kind, &str)] = &[
    ("servers", List, ""),
    ("paths", List, ""),
    ("timeout", Duration, "10s"),
];

fn no_check(_: &GenericSdConfig, _: &mut Checks) {}

fn require(c: &mut Checks, cond: bool, msg: &str) -> bool {
    if !cond {
        c.fail(msg.to_string());
    }
    cond
}

fn check_azure(g: &GenericSdConfig, c: &mut Checks) {
    let need = |c: &mut Checks, key: &str| {
        require(
            c,
            !g.str(key).is_empty(),
            &format!("azure SD configuration requires a {key}"),
        )
    };
    if !need(c, "subscription_id") {
        return;
    }
    let method = g.str("authentication_method");
    if method == "OAuth"
        && !(need(c, "tenant_id") && need(c, "client_id") && need(c, "client_secret"))
    {
        return;
    }
    if method != "OAuth" && method != "ManagedIdentity" {
        c.fail_at(
            "authentication_method",
            format!("unknown authentication_type {method:?}. Supported types are \"OAuth\" or \"ManagedIdentity\""),
        );
    }
}

fn check_ec2(g: &GenericSdConfig, c: &mut Checks) {
    if !require(
        c,
        !g.str("region").is_empty(),
        "EC2 SD configuration requires a region",
    ) {
        return;
    }
    if let Some(SdValue::Filters(fs)) = g.get("filters") {
        if fs.iter().any(|f| f.values.is_empty()) {
            c.fail_at(
                "filters",
                "EC2 SD configuration filter values cannot be empty",
            );
        }
    }
}

fn check_lightsail(g: &GenericSdConfig, c: &mut Checks) {
    require(
        c,
        !g.str("region").is_empty(),
        "Lightsail SD configuration requires a region",
    );
}

fn check_server_url(g: &GenericSdConfig, c: &mut Checks, empty: &str, invalid: &str) {
    let server = g.str("server");
    if !require(c, !server.is_empty(), empty) {
        return;
    }
    match ConfigUrl::parse(server) {
        Err(e) => c.fail_at("server", e),
        Ok(u) if u.scheme().is_empty() || u.host().is_empty() => {
            c.fail_at("server", invalid.to_string())
        }
        Ok(_) => {}
    }
}

fn check_eureka(g: &GenericSdConfig, c: &mut Checks) {
    check_server_url(
        g,
        c,
        "eureka_sd: empty or null eureka server",
        "eureka_sd: invalid eureka server URL",
    );
}

fn check_kuma(g: &GenericSdConfig, c: &mut Checks) {
    let s = g.str("server").to_string();
    check_server_url(
        g,
        c,
        &format!("kuma SD server must not be empty: {s}"),
        &format!("kuma SD server must not be empty and have a scheme: {s}"),
    );
}

fn check_gce(g: &GenericSdConfig, c: &mut Checks) {
    let _ = require(
        c,
        !g.str("project").is_empty(),
        "GCE SD configuration requires a project",
    ) && require(
        c,
        !g.str("zone").is_empty(),
        "GCE SD configuration requires a zone",
    );
}

fn check_role(g: &GenericSdConfig, c: &mut Checks, roles: &[&str], missing: &str) -> bool {
    let role = g.str("role");
    if role.is_empty() {
        c.fail(missing.to_string());
        return false;
    }
    if !roles.contains(&role) {
        c.fail_at(
            "role",
            format!("unknown role {role:?} (one of: {})", roles.join(", ")),
        );
        return false;
    }
    true
}

fn check_hetzner(g: &GenericSdConfig, c: &mut Checks) {
    check_role(
        g,
        c,
        &["robot", "hcloud"],
        "role missing (one of: robot, hcloud)",
    );
}

fn check_ionos(g: &GenericSdConfig, c: &mut Checks) {
    require(
        c,
        !g.str("datacenter_id").is_empty(),
        "datacenter id can't be empty",
    );
}

fn check_marathon(g: &GenericSdConfig, c: &mut Checks) {
    let token = !g.str("auth_token").is_empty() || !g.str("auth_token_file").is_empty();
    let http = g.http.clone().unwrap_or_default();
    let msg = if g.list("servers").is_empty() {
        "marathon_sd: must contain at least one Marathon server"
    } else if !g.str("auth_token").is_empty() && !g.str("auth_token_file").is_empty() {
        "marathon_sd: at most one of auth_token & auth_token_file must be configured"
    } else if http.basic_auth.is_some() && token {
        "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured"
    } else if (!http.bearer_token.is_empty() || !http.bearer_token_file.is_empty()) && token {
        "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured"
    } else if http.authorization.is_some() && token {
        "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured"
    } else {
        return;
    };
    c.fail(msg);
}

fn check_zookeeper(g: &GenericSdConfig, c: &mut Checks, name: &str) {
    if !require(
        c,
        !g.list("servers").is_empty(),
        &format!("{name} SD config must contain at least one Zookeeper server"),
    ) || !require(
        c,
        !g.list("paths").is_empty(),
        &format!("{name} SD config must contain at least one path"),
    ) {
        return;
    }
    for p in g.list("paths") {
        if !p.starts_with('/') {
            c.fail_at(
                "paths",
                format!("{name} SD config paths must begin with '/': {p}"),
            );
        }
    }
}

fn check_nerve(g: &GenericSdConfig, c: &mut Checks) {
    check_zookeeper(g, c, "nerve");
}

fn check_serverset(g: &GenericSdConfig, c: &mut Checks) {
    check_zookeeper(g, c, "serverset");
}

fn check_nomad(g: &GenericSdConfig, c: &mut Checks) {
    require(
        c,
        !g.str("server").trim().is_empty(),
        "nomad SD configuration requires a server address",
    );
}

fn check_openstack(g: &GenericSdConfig, c: &mut Checks) {
    let role = g.str("role");
    if !role.is_empty() && role != "instance" && role != "hypervisor" {
        c.fail_at(
            "role",
            format!("unknown OpenStack SD role {role:?} (one of: instance, hypervisor)"),
        );
        return;
    }
    let avail = g.str("availability");
    if !matches!(avail, "public" | "internal" | "admin") {
        c.fail_at(
            "availability",
            format!("unknown availability {avail}, must be one of admin, internal or public"),
        );
        return;
    }
    let _ = require(
        c,
        !role.is_empty(),
        "role missing (one of: instance, hypervisor)",
    ) && require(
        c,
        !g.str("region").is_empty(),
        "openstack SD configuration requires a region",
    );
}

fn check_ovhcloud(g: &GenericSdConfig, c: &mut Checks) {
    let ok = require(
        c,
        !g.str("endpoint").is_empty(),
        "endpoint can not be empty",
    ) && require(
        c,
        !g.str("application_key").is_empty(),
        "application key can not be empty",
    ) && require(
        c,
        !g.str("application_secret").is_empty(),
        "application secret can not be empty",
    ) && require(
        c,
        !g.str("consumer_key").is_empty(),
        "consumer key can not be empty",
    );
    let service = g.str("service");
    if ok && service != "vps" && service != "dedicated_server" {
        c.fail_at(
            "service",
            format!("unknown service: {service} (one of: vps, dedicated_server)"),
        );
    }
}

fn check_puppetdb(g: &GenericSdConfig, c: &mut Checks) {
    let before = c.items.len();
    super::simple::check_http_url(g.str("url"), c);
    if c.items.len() == before {
        require(c, !g.str("query").is_empty(), "query missing");
    }
}

fn check_scaleway(g: &GenericSdConfig, c: &mut Checks) {
    if !check_role(
        g,
        c,
        &["instance", "baremetal"],
        "role missing (one of: instance, baremetal)",
    ) {
        return;
    }
    let (key, file) = (
        !g.str("secret_key").is_empty(),
        !g.str("secret_key_file").is_empty(),
    );
    let _ = require(
        c,
        !g.str("project_id").is_empty(),
        "project_id is mandatory",
    ) && require(
        c,
        key || file,
        "one of secret_key & secret_key_file must be configured",
    ) && require(
        c,
        !(key && file),
        "at most one of secret_key & secret_key_file must be configured",
    ) && require(
        c,
        !g.str("access_key").is_empty(),
        "access_key is mandatory",
    );
}

fn check_triton(g: &GenericSdConfig, c: &mut Checks) {
    let role = g.str("role");
    let positive = matches!(g.get("refresh_interval"), Some(SdValue::Duration(d)) if !d.is_zero());
    let _ = require(
        c,
        role == "container" || role == "cn",
        "triton SD configuration requires role to be 'container' or 'cn'",
    ) && require(
        c,
        !g.str("account").is_empty(),
        "triton SD configuration requires an account",
    ) && require(
        c,
        !g.str("dns_suffix").is_empty(),
        "triton SD configuration requires a dns_suffix",
    ) && require(
        c,
        !g.str("endpoint").is_empty(),
        "triton SD configuration requires an endpoint",
    ) && require(
        c,
        positive,
        "triton SD configuration requires RefreshInterval to be a positive integer",
    );
}

fn check_uyuni(g: &GenericSdConfig, c: &mut Checks) {
    let ok = require(
        c,
        !g.str("server").is_empty(),
        "Uyuni SD configuration requires server host",
    );
    if !ok {
        return;
    }
    if let Err(e) = ConfigUrl::parse(g.str("server")) {
        c.fail_at("server", format!("Uyuni Server URL is not valid: {e}"));
        return;
    }
    let _ = require(
        c,
        !g.str("username").is_empty(),
        "Uyuni SD configuration requires a username",
    ) && require(
        c,
        !g.str("password").is_empty(),
        "Uyuni SD configuration requires a password",
    );
}

/// Every generic mechanism, in the order their sections are printed.
pub(crate) static SCHEMAS: &[Schema] = &[
    Schema {
        section: "azure_sd_configs",
        type_name: "azure.plain",
        fields: &[
            ("environment", Str, "AzurePublicCloud"),
            ("port", Int, "80"),
            ("subscription_id", Str, ""),
            ("tenant_id", Str, ""),
            ("client_id", Str, ""),
            ("client_secret", Secret, ""),
            ("refresh_interval", Duration, "5m"),
            ("authentication_method", Str, "OAuth"),
            ("resource_group", Str, ""),
        ],
        http: true,
        check: check_azure,
    },
    Schema {
        section: "digitalocean_sd_configs",
        type_name: "digitalocean.plain",
        fields: PORT_REFRESH,
        http: true,
        check: no_check,
    },
    Schema {
        section: "ec2_sd_configs",
        type_name: "aws.plain",
        fields: EC2,
        http: true,
        check: check_ec2,
    },
    Schema {
        section: "eureka_sd_configs",
        type_name: "eureka.plain",
        fields: &[("server", Str, ""), ("refresh_interval", Duration, "30s")],
        http: true,
        check: check_eureka,
    },
    Schema {
        section: "gce_sd_configs",
        type_name: "gce.plain",
        fields: &[
            ("project", Str, ""),
            ("zone", Str, ""),
            ("filter", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("tag_separator", Str, ","),
        ],
        http: false,
        check: check_gce,
    },
    Schema {
        section: "hetzner_sd_configs",
        type_name: "hetzner.plain",
        fields: &[
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("role", Str, ""),
        ],
        http: true,
        check: check_hetzner,
    },
    Schema {
        section: "ionos_sd_configs",
        type_name: "ionos.plain",
        fields: &[
            ("datacenter_id", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
        ],
        http: true,
        check: check_ionos,
    },
    Schema {
        section: "kuma_sd_configs",
        type_name: "xds.plainKumaConf",
        fields: &[
            ("server", Str, ""),
            ("refresh_interval", Duration, "15s"),
            ("fetch_timeout", Duration, "2m"),
        ],
        http: true,
        check: check_kuma,
    },
    Schema {
        section: "lightsail_sd_configs",
        type_name: "aws.plain",
        fields: AWS,
        http: true,
        check: check_lightsail,
    },
    Schema {
        section: "linode_sd_configs",
        type_name: "linode.plain",
        fields: &[
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("tag_separator", Str, ","),
        ],
        http: true,
        check: no_check,
    },
    Schema {
        section: "marathon_sd_configs",
        type_name: "marathon.plain",
        fields: &[
            ("servers", List, ""),
            ("refresh_interval", Duration, "30s"),
            ("auth_token", Secret, ""),
            ("auth_token_file", Str, ""),
        ],
        http: true,
        check: check_marathon,
    },
    Schema {
        section: "nerve_sd_configs",
        type_name: "zookeeper.plain",
        fields: ZOOKEEPER,
        http: false,
        check: check_nerve,
    },
    Schema {
        section: "nomad_sd_configs",
        type_name: "nomad.plain",
        fields: &[
            ("allow_stale", Bool, "true"),
            ("namespace", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("region", Str, "global"),
            ("server", Str, "http://localhost:4646"),
            ("tag_separator", Str, ","),
        ],
        http: true,
        check: check_nomad,
    },
    Schema {
        section: "openstack_sd_configs",
        type_name: "openstack.plain",
        fields: &[
            ("identity_endpoint", Str, ""),
            ("username", Str, ""),
            ("userid", Str, ""),
            ("password", Secret, ""),
            ("project_name", Str, ""),
            ("project_id", Str, ""),
            ("domain_name", Str, ""),
            ("domain_id", Str, ""),
            ("application_credential_name", Str, ""),
            ("application_credential_id", Str, ""),
            ("application_credential_secret", Secret, ""),
            ("role", Str, ""),
            ("region", Str, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("all_tenants", Bool, "false"),
            ("tls_config", Tls, ""),
            ("availability", Str, "public"),
        ],
        http: false,
        check: check_openstack,
    },
    Schema {
        section: "ovhcloud_sd_configs",
        type_name: "ovhcloud.plain",
        fields: &[
            ("endpoint", Str, "ovh-eu"),
            ("application_key", Str, ""),
            ("application_secret", Secret, ""),
            ("consumer_key", Secret, ""),
            ("refresh_interval", Duration, "60s"),
            ("service", Str, ""),
        ],
        http: false,
        check: check_ovhcloud,
    },
    Schema {
        section: "puppetdb_sd_configs",
        type_name: "puppetdb.plain",
        fields: &[
            ("refresh_interval", Duration, "60s"),
            ("url", Str, ""),
            ("query", Str, ""),
            ("include_parameters", Bool, "false"),
            ("port", Int, "80"),
        ],
        http: true,
        check: check_puppetdb,
    },
    Schema {
        section: "scaleway_sd_configs",
        type_name: "scaleway.plain",
        fields: &[
            ("project_id", Str, ""),
            ("api_url", Str, "https://api.scaleway.com"),
            ("zone", Str, "fr-par-1"),
            ("access_key", Str, ""),
            ("secret_key", Secret, ""),
            ("secret_key_file", Str, ""),
            ("name_filter", Str, ""),
            ("tags_filter", List, ""),
            ("refresh_interval", Duration, "60s"),
            ("port", Int, "80"),
            ("role", Str, ""),
        ],
        http: true,
        check: check_scaleway,
    },
    Schema {
        section: "serverset_sd_configs",
        type_name: "zookeeper.plain",
        fields: ZOOKEEPER,
        http: false,
        check: check_serverset,
    },
    Schema {
        section: "triton_sd_configs",
        type_name: "triton.plain",
        fields: &[
            ("account", Str, ""),
            ("role", Str, "container"),
            ("dns_suffix", Str, ""),
            ("endpoint", Str, ""),
            ("groups", List, ""),
            ("port", Int, "9163"),
            ("refresh_interval", Duration, "60s"),
            ("tls_config", Tls, ""),
            ("version", Int, "1"),
        ],
        http: false,
        check: check_triton,
    },
    Schema {
        section: "uyuni_sd_configs",
        type_name: "uyuni.plain",
        fields: &[
            ("server", Str, ""),
            ("username", Str, ""),
            ("password", Secret, ""),
            ("entitlement", Str, "monitoring_entitled"),
            ("separator", Str, ","),
            ("refresh_interval", Duration, "1m"),
        ],
        http: true,
        check: check_uyuni,
    },
    Schema {
        section: "vultr_sd_configs",
        type_name: "vultr.plain",
        fields: PORT_REFRESH,
        http: true,
        check: no_check,
    },
];
