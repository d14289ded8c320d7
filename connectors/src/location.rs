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
}
