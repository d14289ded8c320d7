//! Table locations: absolute paths, URLs, or paths relative to the warehouse.

use std::path::{Path, PathBuf};

use url::Url;

use crate::error::{ConnectorError, Result};

/// Resolve a `LOCATION` as written in a job: URLs and absolute paths stay as they are, anything else is taken
/// relative to the warehouse directory. Returns a URL whose path ends in `/`.
pub fn resolve(location: &str, warehouse: &Path) -> Result<Url> {
    let invalid = |message: String| ConnectorError::InvalidLocation {
        location: location.to_string(),
        message,
    };
    if let Ok(url) = Url::parse(location)
        && url.scheme().len() > 1
    {
        return Ok(with_trailing_slash(url));
    }
    let path = Path::new(location);
    let path: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        absolute(warehouse)?.join(path)
    };
    Url::from_directory_path(clean(&path)).map_err(|_| invalid(format!("cannot turn {} into a URL", path.display())))
}

/// A directory on this machine, given as a path or a `file://` URL — a warehouse, or where data is generated. A URL
/// of any other scheme (`s3://`, `gs://`, `hdfs://`, …) is refused with an error naming it: such a string is never
/// taken for a relative path (which would write under a local folder named `s3:`). Object-store warehouses are not
/// supported yet.
pub fn local_dir(location: &str) -> Result<PathBuf> {
    match Url::parse(location) {
        // One-letter schemes are Windows drive letters (`C:\data`), not URLs.
        Ok(url) if url.scheme().len() > 1 => {
            if url.scheme() != "file" {
                return Err(ConnectorError::InvalidLocation {
                    location: redacted(&url),
                    message: format!(
                        "'{}://' is not a local directory, and warehouses on object stores are not supported yet: \
                         give a local directory",
                        url.scheme()
                    ),
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

/// `url` without a password or user name, for messages.
pub(crate) fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// The location of a table the warehouse owns: `schema.table` lives in `<warehouse>/schema/table`.
pub fn warehouse_table(name: &str, warehouse: &Path) -> Result<Url> {
    let rel: PathBuf = name.split('.').collect();
    resolve(&rel.to_string_lossy(), warehouse)
}

/// The local path of a `file://` URL, for messages and local checks.
pub fn local_path(url: &Url) -> Option<PathBuf> {
    if url.scheme() == "file" {
        url.to_file_path().ok()
    } else {
        None
    }
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

    #[test]
    fn relative_locations_live_in_the_warehouse() {
        let u = resolve("bronze/prices", Path::new("/data/wh")).unwrap();
        assert_eq!(u.as_str(), "file:///data/wh/bronze/prices/");
        let u = resolve("/abs/t", Path::new("/data/wh")).unwrap();
        assert_eq!(u.as_str(), "file:///abs/t/");
        let u = resolve("s3://bucket/t", Path::new("/data/wh")).unwrap();
        assert_eq!(u.as_str(), "s3://bucket/t/");
        let u = warehouse_table("silver.daily_bars", Path::new("/data/./wh/../wh")).unwrap();
        assert_eq!(u.as_str(), "file:///data/wh/silver/daily_bars/");
    }

    #[test]
    fn a_url_is_never_taken_for_a_local_directory() {
        assert_eq!(local_dir("./warehouse").unwrap(), PathBuf::from("./warehouse"));
        assert_eq!(local_dir("/data/wh").unwrap(), PathBuf::from("/data/wh"));
        assert_eq!(local_dir("file:///data/wh").unwrap(), PathBuf::from("/data/wh"));
        for url in ["s3://lake/wh", "gs://b/wh", "hdfs://nn:8020/wh", "ftp://host/wh"] {
            let err = local_dir(url).unwrap_err().to_string();
            assert!(err.contains(url) && err.contains("not supported yet"), "{err}");
        }
        let err = local_dir("s3://key:secret@lake/wh").unwrap_err().to_string();
        assert!(!err.contains("secret") && !err.contains("key"), "{err}");
    }
}
