//! Table locations: absolute paths, URLs of a supported store, or paths relative to the warehouse, which is a
//! local directory or an object-store prefix. A URL is never taken for a local path.

use std::path::{Path, PathBuf};

pub use url::Url;

use crate::error::{ConnectorError, Result};
pub use crate::urls::local_path;
use crate::urls::redacted;

/// A warehouse root: a local directory or a prefix of an object store, held as an absolute URL ending in `/`.
/// `CREATE TABLE a.b` lives at `<warehouse>/a/b/`, and so do the run ledger, staging and dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warehouse {
    url: Url,
}

impl Warehouse {
    /// A warehouse as given on the command line or in `STRATA_WAREHOUSE`: a path (relative to the working
    /// directory), a `file://` URL, or an `s3://bucket/prefix` URL. Any other URL is refused by name; a URL is
    /// never taken for a relative path (which would write under a local folder named `s3:`).
    pub fn parse(location: &str) -> Result<Self> {
        if let Some(url) = as_url(location)? {
            return Ok(Self {
                url: with_trailing_slash(url),
            });
        }
        let path = clean(&absolute(Path::new(location))?);
        let url = Url::from_directory_path(&path).map_err(|_| ConnectorError::InvalidLocation {
            location: location.to_string(),
            message: format!("cannot turn {} into a URL", path.display()),
        })?;
        Ok(Self { url })
    }

    /// The warehouse of a local directory.
    pub fn local(dir: &Path) -> Result<Self> {
        Self::parse(&dir.to_string_lossy())
    }

    /// The root URL, ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The local directory, for a warehouse on this machine's file system.
    pub fn local_dir(&self) -> Option<PathBuf> {
        local_path(&self.url)
    }

    /// Whether the warehouse is on an object store.
    pub fn is_object_store(&self) -> bool {
        crate::store::is_object_store(self.url.scheme())
    }

    /// The directory URL of `relative` (`/`-separated; `.` and `..` resolved) under the warehouse.
    pub fn join(&self, relative: &str) -> Result<Url> {
        let mut url = self.url.clone();
        let base: PathBuf = url.path().split('/').filter(|c| !c.is_empty()).collect();
        let joined = clean(&Path::new("/").join(base).join(relative));
        let mut path = String::from("/");
        for part in joined.iter().skip(1) {
            path.push_str(&part.to_string_lossy());
            path.push('/');
        }
        url.set_path(&path);
        Ok(url)
    }
}

impl std::fmt::Display for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.local_dir() {
            Some(dir) => write!(f, "{}", dir.display()),
            None => write!(f, "{}", redacted(&self.url)),
        }
    }
}

/// `location` as a URL, checked, when it is one (one-letter schemes are Windows drive letters, not URLs).
fn as_url(location: &str) -> Result<Option<Url>> {
    match Url::parse(location) {
        Ok(url) if url.scheme().len() > 1 => {
            crate::store::check_url(&url)?;
            Ok(Some(url))
        }
        _ => Ok(None),
    }
}

/// Resolve a `LOCATION` as written in a job: URLs (of a supported store) and absolute paths stay as they are,
/// anything else is taken relative to the warehouse. Returns a URL whose path ends in `/`.
pub fn resolve(location: &str, warehouse: &Warehouse) -> Result<Url> {
    if let Some(url) = as_url(location)? {
        return Ok(with_trailing_slash(url));
    }
    let path = Path::new(location);
    if path.is_absolute() {
        return Url::from_directory_path(clean(path)).map_err(|_| ConnectorError::InvalidLocation {
            location: location.to_string(),
            message: format!("cannot turn {} into a URL", path.display()),
        });
    }
    warehouse.join(location)
}

/// A directory on this machine, given as a path or a `file://` URL (a schedule's state, where a local tool
/// writes). A URL of any other scheme is refused with an error naming it and `what` the directory is for: such
/// a string is never taken for a relative path.
pub fn local_dir(location: &str, what: &str) -> Result<PathBuf> {
    match Url::parse(location) {
        Ok(url) if url.scheme().len() > 1 => {
            if url.scheme() != "file" {
                return Err(ConnectorError::InvalidLocation {
                    location: redacted(&url),
                    message: format!("{what} must be a local directory, not '{}://'", url.scheme()),
                });
            }
            url.to_file_path().map_err(|()| ConnectorError::InvalidLocation {
                location: redacted(&url),
                message: "not a local file path".into(),
            })
        }
        _ => Ok(PathBuf::from(location)),
    }
}

/// The location of a table the warehouse owns: `schema.table` lives in `<warehouse>/schema/table/`. A name whose
/// parts are empty or dot segments, or that holds a path separator or a `%` escape, is refused: such a table
/// would live outside the warehouse (`"/tmp/x"`, `a..b`, `..%2Fetc`).
pub fn warehouse_table(name: &str, warehouse: &Warehouse) -> Result<Url> {
    let refused = name.contains(['/', '\\', '%'])
        || name
            .split('.')
            .any(|part| part.is_empty() || part.trim().is_empty() || part == "..");
    if refused {
        return Err(ConnectorError::InvalidLocation {
            location: name.to_string(),
            message: "a table of the warehouse is named schema.table (no empty part, path separator or % escape): \
                      it would live outside the warehouse"
                .into(),
        });
    }
    let url = warehouse.join(&name.replace('.', "/"))?;
    if !url.as_str().starts_with(warehouse.url().as_str()) {
        return Err(ConnectorError::InvalidLocation {
            location: name.to_string(),
            message: format!("the table would live outside the warehouse {warehouse}"),
        });
    }
    Ok(url)
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| ConnectorError::InvalidLocation {
        location: p.display().to_string(),
        message: e.to_string(),
    })
}

/// Remove `.` and `..` components without touching the file system.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wh(s: &str) -> Warehouse {
        Warehouse::parse(s).unwrap()
    }

    #[test]
    fn relative_locations_live_in_the_warehouse() {
        let u = resolve("bronze/prices", &wh("/data/wh")).unwrap();
        assert_eq!(u.as_str(), "file:///data/wh/bronze/prices/");
        let u = resolve("/abs/t", &wh("/data/wh")).unwrap();
        assert_eq!(u.as_str(), "file:///abs/t/");
        let u = resolve("s3://bucket/t", &wh("/data/wh")).unwrap();
        assert_eq!(u.as_str(), "s3://bucket/t/");
        for escaping in ["/tmp/x", "a..b", "..", "a.%2e%2e", "a/../../etc", "x.", " .y"] {
            assert!(warehouse_table(escaping, &wh("/data/wh")).is_err(), "{escaping}");
        }
        let u = warehouse_table("silver.daily_bars", &wh("/data/./wh/../wh")).unwrap();
        assert_eq!(u.as_str(), "file:///data/wh/silver/daily_bars/");
    }

    #[test]
    fn an_object_store_warehouse_holds_relative_locations_and_tables() {
        let w = wh("s3://lake/wh");
        assert_eq!(w.url().as_str(), "s3://lake/wh/");
        assert!(w.is_object_store() && w.local_dir().is_none());
        assert_eq!(resolve("bronze/p", &w).unwrap().as_str(), "s3://lake/wh/bronze/p/");
        assert_eq!(resolve("../x/./p", &w).unwrap().as_str(), "s3://lake/x/p/");
        assert_eq!(
            warehouse_table("_strata.runs", &w).unwrap().as_str(),
            "s3://lake/wh/_strata/runs/"
        );
        assert_eq!(wh("s3a://lake").join("a").unwrap().as_str(), "s3a://lake/a/");
        assert_eq!(w.to_string(), "s3://lake/wh/");
    }

    #[test]
    fn unsupported_urls_are_refused_never_taken_for_paths() {
        for url in ["hdfs://nn:8020/wh", "ftp://host/wh", "wasbs://b/wh"] {
            let err = Warehouse::parse(url).unwrap_err().to_string();
            assert!(err.contains(url) && err.contains("not a supported store"), "{err}");
            let err = resolve(url, &wh("/data")).unwrap_err().to_string();
            assert!(err.contains("not a supported store"), "{err}");
        }
        let err = Warehouse::parse("s3://key:secret@lake/wh").unwrap_err().to_string();
        assert!(!err.contains("secret") && !err.contains("key:"), "{err}");
    }

    #[test]
    fn a_url_is_never_taken_for_a_local_directory() {
        assert_eq!(local_dir("./state", "the state").unwrap(), PathBuf::from("./state"));
        assert_eq!(local_dir("file:///data/wh", "x").unwrap(), PathBuf::from("/data/wh"));
        let err = local_dir("s3://lake/wh", "the schedule state").unwrap_err().to_string();
        assert!(
            err.contains("s3://lake/wh") && err.contains("must be a local directory"),
            "{err}"
        );
    }
}
