//! Network namespaces for the chaos suite: each executor in a namespace of its own, joined by a veth pair to a
//! bridge in the test's namespace, where the scheduler and the client are. Cutting an executor's veth cuts it off
//! from the scheduler (and the other executors) while its process runs on; healing it lets it talk again. All
//! addresses are in 10.213.0.0/24, on links this test creates and removes; nothing is routed off the machine.

use std::process::Command;

/// The bridge and the namespaces of one chaos cluster, removed when dropped.
pub(crate) struct Net {
    tag: String,
    namespaces: Vec<String>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    /// The bridge, at 10.213.0.1. Links an earlier, killed test run left behind are removed first.
    pub(crate) fn new() -> Self {
        let tag = format!("{}", std::process::id() % 10_000);
        cleanup_stale();
        let net = Self {
            tag,
            namespaces: Vec::new(),
        };
        ip(&["link", "add", &net.bridge(), "type", "bridge"]);
        ip(&["addr", "add", "10.213.0.1/24", "dev", &net.bridge()]);
        ip(&["link", "set", &net.bridge(), "up"]);
        net
    }

    fn bridge(&self) -> String {
        format!("stbr{}", self.tag)
    }

    fn veth(&self, i: usize) -> String {
        format!("stv{}x{i}", self.tag)
    }

    /// The scheduler's address on the bridge.
    pub(crate) fn gateway(&self) -> &'static str {
        "10.213.0.1"
    }

    /// A namespace for executor `i`; returns its name and the executor's address.
    pub(crate) fn add(&mut self, i: usize) -> (String, String) {
        let ns = format!("st{}x{i}", self.tag);
        let host = format!("10.213.0.{}", i + 10);
        let outer = self.veth(i);
        let inner = format!("{outer}i");
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
        ip(&["link", "set", &inner, "netns", &ns]);
        ip(&["link", "set", &outer, "master", &self.bridge()]);
        ip(&["link", "set", &outer, "up"]);
        ip(&["-n", &ns, "addr", "add", &format!("{host}/24"), "dev", &inner]);
        ip(&["-n", &ns, "link", "set", &inner, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        (ns, host)
    }

    /// Cut executor `i` off the network.
    pub(crate) fn cut(&self, i: usize) {
        ip(&["link", "set", &self.veth(i), "down"]);
    }

    /// Connect executor `i` again.
    pub(crate) fn heal(&self, i: usize) {
        ip(&["link", "set", &self.veth(i), "up"]);
    }
}

/// Remove the bridges and namespaces of chaos runs that died before cleaning up.
fn cleanup_stale() {
    let out = Command::new("ip").args(["-o", "link", "show"]).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split(':').nth(1).unwrap_or("").trim();
        let name = name.split('@').next().unwrap_or("");
        if name.starts_with("stbr") || name.starts_with("stv") {
            let _ = Command::new("ip").args(["link", "del", name]).output();
        }
    }
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if is_chaos_namespace(name) {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// `st<digits>x<digits>`: the names [`Net::add`] gives.
fn is_chaos_namespace(name: &str) -> bool {
    let Some((tag, index)) = name.strip_prefix("st").and_then(|n| n.split_once('x')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(tag) && digits(index)
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge()]).output();
    }
}
