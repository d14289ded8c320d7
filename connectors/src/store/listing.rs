//! Directories of a location, on the local disk or an object store alike: what is under it, whether anything is,
//! and removing all of it (a run's staging files).

use std::sync::Arc;

use deltalake::Path;
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use super::build::object_store;
use crate::error::{ConnectorError, Result};
use crate::urls::{local_path, redacted};

/// Remove everything under the directory `url` (a run's staging files); nothing there is no error.
pub async fn remove_all(url: &Url) -> Result<()> {
    if let Some(dir) = local_path(url) {
        return match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ConnectorError::InvalidLocation {
                location: dir.display().to_string(),
                message: format!("cannot remove: {e}"),
            }),
            _ => Ok(()),
        };
    }
    let err = |source: object_store::Error| ConnectorError::ObjectStore {
        location: redacted(url),
        source,
    };
    let (store, prefix) = store_and_prefix(url)?;
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(err)?;
        match store.delete(&meta.location).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

/// The names of the directories directly under the directory `url`, sorted: sub-directories on a local disk,
/// common prefixes on an object store (one listing, whatever the number of objects below them). Hidden names
/// (`.…`) are left out; a directory that does not exist has none.
pub async fn subdirectories(url: &Url) -> Result<Vec<String>> {
    let mut names = match local_path(url) {
        Some(dir) => {
            let listed = tokio::task::spawn_blocking(move || local_subdirectories(&dir)).await;
            listed.map_err(|e| ConnectorError::InvalidLocation {
                location: redacted(url),
                message: format!("listing failed: {e}"),
            })??
        }
        None => {
            let (store, prefix) = store_and_prefix(url)?;
            let listing =
                store
                    .list_with_delimiter(Some(&prefix))
                    .await
                    .map_err(|source| ConnectorError::ObjectStore {
                        location: redacted(url),
                        source,
                    })?;
            listing
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()
        }
    };
    names.retain(|name| !name.starts_with('.'));
    names.sort();
    Ok(names)
}

/// Whether anything is stored under the directory `url`: a local directory that exists, or at least one object
/// under the prefix (one request, however many objects there are).
pub async fn exists(url: &Url) -> Result<bool> {
    if let Some(dir) = local_path(url) {
        return Ok(dir.is_dir());
    }
    let (store, prefix) = store_and_prefix(url)?;
    match store.list(Some(&prefix)).next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(source)) => Err(ConnectorError::ObjectStore {
            location: redacted(url),
            source,
        }),
    }
}

/// The bucket's store and the path of `url` in it.
fn store_and_prefix(url: &Url) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let store = object_store(url, std::iter::empty())?;
    let prefix = Path::from_url_path(url.path()).map_err(|e| ConnectorError::ObjectStore {
        location: redacted(url),
        source: e.into(),
    })?;
    Ok((store, prefix))
}

/// Sub-directory names of a local directory (UTF-8 names only); a missing directory has none.
fn local_subdirectories(dir: &std::path::Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ConnectorError::InvalidLocation {
                location: dir.display().to_string(),
                message: format!("cannot list: {e}"),
            });
        }
    };
    Ok(entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect())
}
