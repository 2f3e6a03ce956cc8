//! Which `Host:` names the ops server answers to. A page on another site
//! whose DNS name is re-pointed at this machine (DNS rebinding) reaches the
//! listener under its own name, so the browser lets it read the answers:
//! the server answers only the names it is known by and refuses the rest
//! with 421 Misdirected Request.
//!
//! Always allowed: `localhost`, loopback addresses, and the listen address
//! (any IP literal when listening on all interfaces: a browser sends an IP
//! literal only for a page loaded from that very address, which no
//! rebinding can forge). DNS names the server is reached by go in
//! `ops.allowed_hosts` (`"*"` allows every name).

use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug)]
pub struct AllowedHosts {
    names: Vec<String>,
    any: bool,
    listen: IpAddr,
}

impl AllowedHosts {
    pub fn new(configured: &[String], listen: SocketAddr) -> Self {
        let names: Vec<String> = configured.iter().map(|n| normalise(n)).collect();
        AllowedHosts {
            any: names.iter().any(|n| n == "*"),
            names,
            listen: listen.ip(),
        }
    }

    /// Whether a request with this `Host:` header value may be answered.
    pub fn allows(&self, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let Some(name) = host.and_then(hostname) else {
            return false;
        };
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip.is_loopback() || ip == self.listen || self.listen.is_unspecified();
        }
        name == "localhost" || self.names.contains(&name)
    }
}

fn normalise(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host part of a `Host:` value (`name`, `name:port`, `[v6]:port`).
fn hostname(value: &str) -> Option<String> {
    let v = value.trim();
    let host = if let Some(rest) = v.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        inside
    } else {
        match v.rsplit_once(':') {
            Some((h, p)) if is_port(p) => h,
            Some(_) => return None,
            None => v,
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(normalise(host))
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(listen: &str, names: &[&str]) -> AllowedHosts {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        AllowedHosts::new(&names, listen.parse().unwrap())
    }

    #[test]
    fn loopback_names_and_the_listen_address_pass_others_do_not() {
        let a = on("127.0.0.1:9180", &[]);
        for ok in [
            "127.0.0.1:9180",
            "localhost:9180",
            "LOCALHOST",
            "[::1]:9180",
            "127.0.0.1",
        ] {
            assert!(a.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example:9180",
            "evil.example",
            "localhost.evil.example",
            "10.1.2.3:9180",
            "",
            "127.0.0.1:x",
            "[::1",
        ] {
            assert!(!a.allows(Some(bad)), "{bad}");
        }
        assert!(!a.allows(None));
    }

    #[test]
    fn configured_names_and_a_wildcard() {
        let a = on("10.0.0.5:9180", &["Mezhved.Region.Local."]);
        assert!(a.allows(Some("mezhved.region.local:9180")));
        assert!(a.allows(Some("10.0.0.5:9180")));
        assert!(!a.allows(Some("10.0.0.6:9180")));
        assert!(!a.allows(Some("other.region.local")));
        let all = on("0.0.0.0:9180", &[]);
        assert!(
            all.allows(Some("10.0.0.6:9180")),
            "any IP literal on 0.0.0.0"
        );
        assert!(!all.allows(Some("evil.example")));
        assert!(on("127.0.0.1:1", &["*"]).allows(Some("evil.example")));
    }
}
