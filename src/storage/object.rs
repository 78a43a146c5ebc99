//! S3, Google Cloud Storage and Azure Blob outputs through `object_store`. Credentials come from
//! each platform's usual chain (environment variables, then container, web-identity or instance
//! credentials). A finished file is written with one PUT, or a multipart upload that only becomes
//! the object when it is completed, so readers see the old object or the whole new one.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::buffered::BufWriter;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::{AsyncWriteExt, BufReader};

use super::{HEAD_BYTES, ObjectScheme, RemoteUrl, StorageError};

/// Parts of a multipart upload; also the size up to which one PUT is used.
const PART_BYTES: usize = 16 * 1024 * 1024;

/// The S3 endpoint variables, as object_store reads them.
const ENDPOINT_VARS: [&str; 3] = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"];

/// Refuses a plain-http store endpoint off loopback unless the store's own allow variable
/// (`AWS_ALLOW_HTTP`, `AZURE_ALLOW_HTTP`, `GOOGLE_ALLOW_HTTP`) is `true`: credentials would be
/// sent or signed in the clear and student data would cross the network unencrypted.
pub(super) fn check_endpoint(url: &RemoteUrl) -> Result<(), StorageError> {
    let Some((endpoint, allow_var)) = plain_http_endpoint(url) else {
        return Ok(());
    };
    if plain_http_allowed(&endpoint, allow_http(allow_var)) {
        return Ok(());
    }
    Err(StorageError::Config {
        url: url.to_string(),
        message: format!(
            "refusing the plain-http endpoint {endpoint} (not on loopback): credentials and \
             student data would cross the network unencrypted; use https, or set \
             {allow_var}=true if that network is trusted"
        ),
    })
}

/// The store's endpoint from the environment when it is plain http, with the variable that
/// allows that: for S3 the endpoint variables; for Azure an endpoint override or, in emulator
/// mode, the emulator's URL; for GCS the base URL, or the one a service-account key names.
fn plain_http_endpoint(url: &RemoteUrl) -> Option<(url::Url, &'static str)> {
    let RemoteUrl::Object { scheme, .. } = url else {
        return None;
    };
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (candidates, allow_var): (Vec<String>, _) = match scheme {
        ObjectScheme::S3 => (
            ENDPOINT_VARS
                .iter()
                .find_map(|v| var(v))
                .into_iter()
                .collect(),
            "AWS_ALLOW_HTTP",
        ),
        ObjectScheme::Azure => {
            let emulator = var("AZURE_STORAGE_USE_EMULATOR")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                .then(|| var("AZURITE_BLOB_STORAGE_URL"))
                .flatten();
            let endpoint = var("AZURE_STORAGE_ENDPOINT").or_else(|| var("AZURE_ENDPOINT"));
            (
                endpoint.into_iter().chain(emulator).collect(),
                "AZURE_ALLOW_HTTP",
            )
        }
        ObjectScheme::Gcs => {
            let key = var("GOOGLE_SERVICE_ACCOUNT_KEY").or_else(|| {
                ["GOOGLE_SERVICE_ACCOUNT", "GOOGLE_SERVICE_ACCOUNT_PATH"]
                    .iter()
                    .find_map(|v| var(v))
                    .and_then(|path| std::fs::read_to_string(path).ok())
            });
            let in_key = key
                .and_then(|k| serde_json::from_str::<serde_json::Value>(&k).ok())
                .and_then(|k| k.get("gcs_base_url")?.as_str().map(str::to_string));
            (
                var("GOOGLE_BASE_URL").into_iter().chain(in_key).collect(),
                "GOOGLE_ALLOW_HTTP",
            )
        }
    };
    candidates
        .iter()
        .filter_map(|text| url::Url::parse(text).ok())
        .find(|endpoint| endpoint.scheme() == "http")
        .map(|endpoint| (endpoint, allow_var))
}

/// Plain http is for loopback (a local test server), or wherever the user said the network is
/// trusted.
fn plain_http_allowed(endpoint: &url::Url, allow_http: bool) -> bool {
    allow_http || is_loopback(endpoint)
}

fn is_loopback(endpoint: &url::Url) -> bool {
    match endpoint.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn allow_http(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The store and the object's path within it.
fn open(url: &RemoteUrl) -> Result<(Arc<dyn ObjectStore>, ObjectPath), StorageError> {
    let RemoteUrl::Object {
        scheme,
        bucket,
        key,
    } = url
    else {
        return Err(StorageError::Internal(format!(
            "{url} is not an object URL"
        )));
    };
    check_endpoint(url)?;
    // A bounded retry: a store that is down fails the run in well under a minute.
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    };
    let built = match scheme {
        ObjectScheme::S3 => {
            let builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(retry);
            // Plain http on loopback (a local test server) needs no AWS_ALLOW_HTTP.
            let loopback = plain_http_endpoint(url).is_some_and(|(e, _)| is_loopback(&e));
            let builder = if loopback {
                builder.with_allow_http(true)
            } else {
                builder
            };
            builder.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        ObjectScheme::Gcs => GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        ObjectScheme::Azure => MicrosoftAzureBuilder::from_env()
            .with_container_name(bucket)
            .with_retry(retry)
            .build()
            .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
    };
    let store = built.map_err(|e| StorageError::Config {
        url: url.to_string(),
        message: format!("cannot set up the object store client: {e}"),
    })?;
    let path = ObjectPath::parse(key).map_err(|e| StorageError::Url {
        url: url.to_string(),
        message: format!("not a valid object key: {e}"),
    })?;
    Ok((store, path))
}

pub(super) async fn head(url: &RemoteUrl) -> Result<Option<Vec<u8>>, StorageError> {
    let (store, path) = open(url)?;
    let meta = match store.head(&path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(StorageError::remote("inspecting", url)(e.to_string())),
    };
    if meta.size == 0 {
        return Ok(Some(Vec::new()));
    }
    let end = meta.size.min(HEAD_BYTES as u64);
    store
        .get_range(&path, 0..end)
        .await
        .map(|bytes| Some(bytes.to_vec()))
        .map_err(|e| StorageError::remote("reading", url)(e.to_string()))
}

pub(super) async fn download(url: &RemoteUrl, to: &Path) -> Result<bool, StorageError> {
    let (store, path) = open(url)?;
    let got = match store.get(&path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(StorageError::remote("downloading", url)(e.to_string())),
    };
    let mut file = super::sftp::create_private(to).await?;
    let mut stream = got.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StorageError::remote("downloading", url)(e.to_string()))?;
        file.write_all(&chunk)
            .await
            .map_err(StorageError::io("writing", to))?;
    }
    file.sync_all()
        .await
        .map_err(StorageError::io("syncing", to))?;
    Ok(true)
}

pub(super) async fn upload(url: &RemoteUrl, from: &Path) -> Result<(), StorageError> {
    let (store, path) = open(url)?;
    let file = tokio::fs::File::open(from)
        .await
        .map_err(StorageError::io("reading", from))?;
    let mut reader = BufReader::with_capacity(1024 * 1024, file);
    // Up to PART_BYTES this is one PUT at shutdown; past it, a multipart upload that the store
    // only turns into the object on completion, and aborts on failure.
    let mut writer = BufWriter::with_capacity(store, path, PART_BYTES).with_max_concurrency(4);
    let failed = StorageError::remote("uploading to", url);
    if let Err(e) = tokio::io::copy_buf(&mut reader, &mut writer).await {
        let _ = writer.abort().await;
        return Err(failed(e.to_string()));
    }
    // A failed completion aborts the multipart upload itself.
    writer.shutdown().await.map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_loopback_unless_allowed() {
        let url = |text: &str| url::Url::parse(text).unwrap();
        for local in [
            "http://127.0.0.1:9000",
            "http://127.8.9.10",
            "http://[::1]:5000",
            "http://LocalHost:1",
        ] {
            assert!(plain_http_allowed(&url(local), false), "{local}");
        }
        for remote in [
            "http://10.0.0.5:9000",
            "http://minio.district.example",
            "http://localhost.example",
        ] {
            assert!(!plain_http_allowed(&url(remote), false), "{remote}");
            assert!(plain_http_allowed(&url(remote), true), "{remote}");
        }
    }
}
