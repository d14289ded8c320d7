//! Small facts about URLs that every location-handling module needs: how a URL is shown in messages (never with
//! its credentials) and whether it is a local path. A leaf: it imports nothing of the crate.

use std::path::PathBuf;

use url::Url;

/// `url` without a password or user name, for messages.
pub(crate) fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// The local path of a `file://` URL, for messages and local checks.
pub fn local_path(url: &Url) -> Option<PathBuf> {
    if url.scheme() == "file" {
        url.to_file_path().ok()
    } else {
        None
    }
}
