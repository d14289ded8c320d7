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

use strata_connectors::location::Warehouse;

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

    /// Whether every location is allowed (the root `*`).
    pub fn allows_anything(&self) -> bool {
        self.anywhere
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

/// `location` normalised for comparison: `scheme://host[:port]/path/` with `.`/`..` resolved, ending in `/`. A URL is
/// split by hand (`kafka://a:9092,b:9092/t` is no valid URL but a valid location) and never taken for a path; a
/// segment that hides a separator or a dot segment in percent-encoding (`..%2Fetc`, `%2e%2e`) is refused, since a
/// reader that decodes it would go elsewhere than the comparison says.
fn key(location: &str) -> Result<String, String> {
    let (scheme, authority, path) = match location.split_once("://") {
        Some((scheme, rest)) if scheme.len() > 1 && !scheme.eq_ignore_ascii_case("file") => {
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            // User info is not part of the place (and may hold a password: it is never kept).
            let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            (
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase(),
                path.to_string(),
            )
        }
        // Paths and file URLs: the warehouse rules (absolute, cleaned) make them a `file://` directory URL.
        _ => {
            let url = Warehouse::parse(location).map_err(|e| e.to_string())?.url().clone();
            ("file".to_string(), String::new(), url.path().to_string())
        }
    };
    let mut segments: Vec<&str> = Vec::new();
    for raw in path.split('/') {
        let decoded = percent_decoded(raw);
        if decoded.contains(['/', '\\']) || (decoded != raw && (decoded == "." || decoded == "..")) {
            return Err(format!(
                "the path segment '{raw}' hides a separator or a dot segment in percent-encoding"
            ));
        }
        match raw {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("{scheme}://{authority}/");
    for s in segments {
        out.push_str(s);
        out.push('/');
    }
    Ok(out)
}

/// `text` with its `%XX` escapes decoded (an invalid escape stays as written).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn encoded_separators_and_dot_segments_are_refused() {
        let c = confined("/srv/wh", &["s3://lake/shared"]);
        for sneaky in [
            "file:///srv/wh/..%2F..%2Fetc",
            "file:///srv/wh/a%2f..%2f..%2fetc/",
            "file:///srv/wh/%2e%2e/%2E%2E/etc",
            "s3://lake/shared/..%2Fsecret",
            "s3://lake/shared/%2e%2e/secret",
            "file:///srv/wh/..%5C..%5Cetc",
        ] {
            // Refused: as hidden separators, or (where the URL parser resolves `%2e%2e` itself) as outside.
            let err = c.check(sneaky).unwrap_err();
            assert!(
                err.contains("percent-encoding") || err.contains("outside"),
                "{sneaky}: {err}"
            );
        }
        assert!(c.check("s3://lake/shared/a%20b/").is_ok(), "other escapes are names");
    }

    #[test]
    fn locations_that_are_no_valid_urls_stay_urls() {
        let c = confined("/srv/wh", &["kafka://a:9092,b:9092/"]);
        assert!(c.check("kafka://a:9092,b:9092/ticks").is_ok());
        assert!(c.check("kafka://a:9092,evil:9092/ticks").is_err());
        assert!(
            c.check("KAFKA://A:9092,B:9092/ticks").is_ok(),
            "scheme and host are case-insensitive"
        );
        assert!(c.check("FILE:///srv/wh/x").is_ok());
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
