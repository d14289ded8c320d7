//! Where a job may read and write: the confinement of jobs submitted to a shared scheduler.
//!
//! A job file names locations (`LOCATION '…'` of its sources and sinks); relative ones resolve against the
//! warehouse, with `.` and `..` resolved, so `'../../../../etc'` is `/etc/`. A scheduler that runs other people's
//! jobs confines them: every location a job resolves must lie under the warehouse or under one of the roots the
//! operator declares (`--allow-location`), whatever its scheme — files, object stores, Kafka and PostgreSQL.
//!
//! Guarantees: a location is compared after it is resolved and normalised (no `.`/`..` segment, scheme and host
//! lower-case, user info and query left out), a root matches only at a `/` boundary (`s3://b/data` does not allow
//! `s3://b/database`), and an empty confinement allows nothing but the warehouse. The root `*` allows everything:
//! for a scheduler that runs only its own user's jobs (`strata cluster up` on loopback), said explicitly. Roots for Kafka and PostgreSQL
//! follow the same rule: `kafka://` allows the default brokers' topics (`kafka:///topic`), `kafka://host:9092/`
//! that broker's, `postgres://db:5432/analytics` the tables of that database.

use strata_connectors::location::{Url, Warehouse};

/// The roots a confined job's locations must lie under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    roots: Vec<String>,
    /// The root `*` was given: every location is allowed.
    anywhere: bool,
}

impl Confinement {
    /// Jobs confined to `warehouse` and the `allowed` roots (paths or URLs); an error names a root that is
    /// neither.
    pub fn new(warehouse: &str, allowed: &[String]) -> Result<Self, String> {
        let mut roots = Vec::with_capacity(allowed.len() + 1);
        let mut anywhere = false;
        for root in std::iter::once(warehouse).chain(allowed.iter().map(String::as_str)) {
            let root = root.trim();
            if root == "*" {
                anywhere = true;
                continue;
            }
            if root.is_empty() {
                continue;
            }
            roots.push(key(root).map_err(|e| format!("allowed location '{root}': {e}"))?);
        }
        Ok(Self { roots, anywhere })
    }

    /// The roots, normalised, for messages and logs (no credentials: user info is never kept).
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// Whether `location` (a path, or a URL of any scheme) lies under one of the roots; the error says which
    /// location was refused and what is allowed.
    pub fn check(&self, location: &str) -> Result<(), String> {
        let normal = key(location).map_err(|e| format!("location '{location}': {e}"))?;
        if self.anywhere || self.roots.iter().any(|root| normal.starts_with(root.as_str())) {
            return Ok(());
        }
        Err(format!(
            "location '{location}' (resolved to {normal}) is outside what this scheduler allows: the warehouse and \
             the roots its operator declared with --allow-location ({})",
            self.roots.join(", ")
        ))
    }
}

/// `location` normalised for comparison: `scheme://host[:port]/path/` with `.`/`..` resolved, ending in `/`.
fn key(location: &str) -> Result<String, String> {
    let url = match Url::parse(location) {
        Ok(url) if url.scheme().len() > 1 && url.scheme() != "file" => url,
        // Paths and file URLs: the warehouse rules (absolute, cleaned) make them a `file://` directory URL.
        _ => Warehouse::parse(location).map_err(|e| e.to_string())?.url().clone(),
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in url.path().split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut path = String::from("/");
    for s in segments {
        path.push_str(s);
        path.push('/');
    }
    Ok(format!("{}://{host}{port}{path}", url.scheme().to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confined(warehouse: &str, allowed: &[&str]) -> Confinement {
        Confinement::new(warehouse, &allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn escaping_paths_are_refused_after_resolution() {
        let c = confined("/srv/wh", &["/data/raw"]);
        assert!(c.check("/srv/wh/bronze/t/").is_ok());
        assert!(c.check("/data/raw/2024/").is_ok());
        let err = c.check("/srv/wh/../../etc").unwrap_err();
        assert!(err.contains("file:///etc/"), "{err}");
        assert!(
            c.check("/data/rawfiles").is_err(),
            "a root matches at a / boundary only"
        );
        assert!(c.check("file:///data/raw/x").is_ok());
        assert!(c.check("/etc/passwd").is_err());
    }

    #[test]
    fn every_scheme_is_confined() {
        let c = confined(
            "s3://Lake/wh",
            &["s3://lake/shared/", "kafka://", "postgres://db:5432/analytics"],
        );
        assert!(c.check("s3://lake/wh/gold/x/").is_ok());
        assert!(c.check("s3://lake/wh/../secret/").is_err());
        assert!(c.check("s3://lake/shared/raw").is_ok());
        assert!(c.check("s3://other/wh/").is_err());
        assert!(
            c.check("s3://user:pw@lake/shared/x").is_ok(),
            "user info is not part of the place"
        );
        assert!(c.check("kafka:///ticks").is_ok());
        assert!(c.check("kafka://evil:9092/ticks").is_err());
        assert!(c.check("postgres://db:5432/analytics?table=prices").is_ok());
        assert!(c.check("postgres://db:5432/other?table=prices").is_err());
        assert!(c.check("az://account/container/x").is_err());
        assert!(!c.roots().iter().any(|r| r.contains("pw")));
    }

    #[test]
    fn a_star_allows_everything() {
        let c = confined("/srv/wh", &["*"]);
        assert!(c.check("/etc/").is_ok() && c.check("s3://any/x").is_ok() && c.check("kafka://h:1/t").is_ok());
    }

    #[test]
    fn nothing_but_the_warehouse_without_roots() {
        let c = confined("/srv/wh", &[]);
        assert!(c.check("/srv/wh/a/").is_ok());
        assert!(c.check("/srv/whatever/").is_err());
        assert!(c.check("s3://lake/").is_err());
    }
}
