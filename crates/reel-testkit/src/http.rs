//! One HTTP client for tests, with timeouts.
//!
//! `reqwest::Client::new()` waits forever: a node that accepts a connection and never
//! answers hangs the test until CI kills it, with no word of which request it was. Every
//! request here has a deadline and its error names the method and URL.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;

/// How long connecting may take: loopback answers at once or not at all.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take: long enough for a segment transcoded on a loaded
/// 2-core machine.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A request failed before a response arrived, or its body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client could not be built (no TLS backend).
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// Sending, or reading the body, failed or timed out.
    #[error("{method} {url}: {source}")]
    Request {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The body is not the JSON asked for.
    #[error("{url} answered {status} with a body that is not JSON ({source}): {body}")]
    Json {
        /// The URL.
        url: String,
        /// The response status.
        status: u16,
        /// The body as text (lossy).
        body: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// A whole response: status, headers and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The URL asked for.
    pub url: String,
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, HttpError> {
        serde_json::from_slice(&self.body).map_err(|source| HttpError::Json {
            url: self.url.clone(),
            status: self.status,
            body: self.text(),
            source,
        })
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The test HTTP client: cheap to clone, one connection pool.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client with [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
    pub fn new() -> Result<Self, HttpError> {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    /// A client whose requests may take at most `timeout` each.
    pub fn with_timeout(timeout: Duration) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(HttpError::Build)?;
        Ok(Self { client })
    }

    /// The underlying client, for requests the helpers do not cover (its timeouts apply).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `req` (built on [`Http::client`], so its timeouts apply) and reads the whole
    /// response, whatever the status.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply, HttpError> {
        let req = req.build().map_err(|source| HttpError::Request {
            method: "?".into(),
            url: String::new(),
            source,
        })?;
        let method = req.method().to_string();
        let url = req.url().to_string();
        let fail = |source| HttpError::Request {
            method: method.clone(),
            url: url.clone(),
            source,
        };
        let resp = self.client.execute(req).await.map_err(&fail)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(&fail)?;
        Ok(Reply {
            url: url.clone(),
            status,
            headers,
            body,
        })
    }

    /// `GET url`, whatever the status.
    pub async fn get(&self, url: impl AsRef<str>) -> Result<Reply, HttpError> {
        self.send(self.client.get(url.as_ref())).await
    }

    /// The body of `GET url` as text, whatever the status.
    pub async fn get_text(&self, url: impl AsRef<str>) -> Result<String, HttpError> {
        Ok(self.get(url).await?.text())
    }

    /// The body of `GET url`, whatever the status.
    pub async fn get_bytes(&self, url: impl AsRef<str>) -> Result<Bytes, HttpError> {
        Ok(self.get(url).await?.body)
    }

    /// The body of `GET url` as JSON, whatever the status.
    pub async fn get_json(&self, url: impl AsRef<str>) -> Result<serde_json::Value, HttpError> {
        self.get(url).await?.json()
    }

    /// `(status, JSON body)` of `GET url`: what a health check asserts on.
    pub async fn get_status_json(
        &self,
        url: impl AsRef<str>,
    ) -> Result<(u16, serde_json::Value), HttpError> {
        let r = self.get(url).await?;
        Ok((r.status, r.json()?))
    }

    /// `POST url` with `body`.
    pub async fn post(
        &self,
        url: impl AsRef<str>,
        body: impl Into<reqwest::Body>,
    ) -> Result<Reply, HttpError> {
        self.send(self.client.post(url.as_ref()).body(body)).await
    }

    /// `PUT url` with `body`.
    pub async fn put(
        &self,
        url: impl AsRef<str>,
        body: impl Into<reqwest::Body>,
    ) -> Result<Reply, HttpError> {
        self.send(self.client.put(url.as_ref()).body(body)).await
    }

    /// The `/metrics` text of a node's CLI address (`http://host:port`).
    pub async fn metrics(&self, cli: impl AsRef<str>) -> Result<String, HttpError> {
        self.get_text(format!("{}/metrics", cli.as_ref())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot server: answers the first request with `response`, or never (`None`).
    async fn server(response: Option<&'static str>) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            match response {
                Some(r) => s.write_all(r.as_bytes()).await.unwrap(),
                None => tokio::time::sleep(Duration::from_secs(60)).await,
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_reply_keeps_status_headers_and_body() {
        let url = server(Some(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{\"ok\":false}",
        ))
        .await;
        let (status, doc) = Http::new()
            .unwrap()
            .get_status_json(format!("{url}/healthz"))
            .await
            .unwrap();
        assert_eq!(status, 503);
        assert_eq!(doc, serde_json::json!({"ok": false}));
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout_naming_the_request() {
        let url = server(None).await;
        let err = Http::with_timeout(Duration::from_millis(200))
            .unwrap()
            .get(format!("{url}/status"))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("GET http://127.0.0.1:"), "{msg}");
        assert!(msg.contains("/status"), "{msg}");
    }
}
