//! Fetching http(s) image/document URLs found in chat messages, safely: https only by default, no
//! private, loopback, link-local or otherwise internal addresses (checked on the resolved IPs and
//! pinned for the connection, so DNS rebinding cannot swap them), redirects re-checked hop by hop,
//! and size and time limits.

use crate::error::ApiError;
use futures::StreamExt;
use shale_config::MediaFetchSettings;
use shale_translate::FetchedMedia;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const MAX_REDIRECTS: usize = 3;

/// Downloads media for chat requests under [`MediaFetchSettings`].
#[derive(Debug, Clone)]
pub struct MediaFetcher {
    settings: MediaFetchSettings,
}

impl MediaFetcher {
    pub fn new(settings: MediaFetchSettings) -> Result<Self, String> {
        Ok(MediaFetcher { settings })
    }

    /// Fetches every URL (concurrently) into a [`FetchedMedia`] for the translator.
    pub async fn fetch_all(&self, urls: Vec<String>) -> Result<FetchedMedia, ApiError> {
        let mut media = FetchedMedia::new();
        if urls.is_empty() {
            return Ok(media);
        }
        if !self.settings.enabled {
            return Err(ApiError::invalid(
                Some("messages"),
                format!("Fetching media URLs is disabled on this gateway ({}); send the content as a base64 data URL.", urls[0]),
            ));
        }
        let results = futures::future::join_all(urls.iter().map(|u| self.fetch(u))).await;
        for (url, result) in urls.into_iter().zip(results) {
            let (mime, bytes) = result?;
            media.insert(url, mime, bytes);
        }
        Ok(media)
    }

    async fn fetch(&self, url: &str) -> Result<(String, bytes::Bytes), ApiError> {
        let deadline = self.settings.timeout;
        tokio::time::timeout(deadline, self.fetch_following_redirects(url))
            .await
            .map_err(|_| refused(url, &format!("download took longer than {deadline:?}")))?
    }

    async fn fetch_following_redirects(
        &self,
        original: &str,
    ) -> Result<(String, bytes::Bytes), ApiError> {
        let mut current =
            url::Url::parse(original).map_err(|e| refused(original, &e.to_string()))?;
        for _ in 0..=MAX_REDIRECTS {
            let addr = self.check_and_resolve(&current, original).await?;
            let host = current.host_str().unwrap_or_default().to_string();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&host, addr)
                .timeout(self.settings.timeout)
                .build()
                .map_err(|e| ApiError::Internal(format!("media client: {e}")))?;
            let response = client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| refused(original, &format!("request failed: {e}")))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| refused(original, "redirect without a Location"))?;
                current = current
                    .join(location)
                    .map_err(|e| refused(original, &format!("bad redirect: {e}")))?;
                continue;
            }
            if !status.is_success() {
                return Err(refused(original, &format!("the server answered {status}")));
            }
            let mime = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
                .unwrap_or_default();
            if let Some(len) = response.content_length() {
                if len > self.settings.max_bytes as u64 {
                    return Err(too_big(original, self.settings.max_bytes));
                }
            }
            let mut body = bytes::BytesMut::new();
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| refused(original, &format!("download failed: {e}")))?;
                if body.len() + chunk.len() > self.settings.max_bytes {
                    return Err(too_big(original, self.settings.max_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            return Ok((mime, body.freeze()));
        }
        Err(refused(original, "too many redirects"))
    }

    /// Scheme and address checks; returns the one resolved address the connection must use.
    async fn check_and_resolve(
        &self,
        url: &url::Url,
        original: &str,
    ) -> Result<SocketAddr, ApiError> {
        match url.scheme() {
            "https" => {}
            "http" if self.settings.allow_http => {}
            "http" => return Err(refused(
                original,
                "only https URLs are fetched (general_settings.media_fetch.allow_http is false)",
            )),
            other => {
                return Err(refused(
                    original,
                    &format!("scheme `{other}` is not allowed"),
                ))
            }
        }
        let host = url
            .host_str()
            .ok_or_else(|| refused(original, "URL has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host_for_lookup, port))
            .await
            .map_err(|e| refused(original, &format!("cannot resolve host: {e}")))?
            .collect();
        let first = *addrs
            .first()
            .ok_or_else(|| refused(original, "host has no address"))?;
        if !self.settings.allow_private_networks {
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(refused(
                    original,
                    &format!("it resolves to a non-public address ({})", bad.ip()),
                ));
            }
        }
        Ok(first)
    }
}

fn refused(url: &str, why: &str) -> ApiError {
    ApiError::InvalidRequest {
        message: format!("Could not fetch media URL {url}: {why}."),
        param: Some("messages".into()),
        code: Some("invalid_media_url".into()),
    }
}

fn too_big(url: &str, max: usize) -> ApiError {
    refused(url, &format!("it is larger than {max} bytes"))
}

/// True for globally routable unicast addresses only.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
        || o[0] >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 may reach private IPv4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn refuses_http_loopback_and_metadata() {
        let fetcher = MediaFetcher::new(MediaFetchSettings::default()).unwrap();
        let err = fetcher
            .fetch_all(vec!["http://example.com/a.png".into()])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("only https"), "{err}");
        let err = fetcher
            .fetch_all(vec!["https://127.0.0.1/a.png".into()])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("non-public address (127.0.0.1)"),
            "{err}"
        );
        let fetcher = MediaFetcher::new(MediaFetchSettings {
            allow_http: true,
            ..MediaFetchSettings::default()
        })
        .unwrap();
        let err = fetcher
            .fetch_all(vec!["http://169.254.169.254/latest/meta-data/".into()])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("non-public"), "{err}");
        let err = fetcher
            .fetch_all(vec!["http://localhost:1/x.png".into()])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("non-public"), "{err}");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn downloads_within_limits_when_private_allowed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for body_len in [4usize, 5000] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n");
                s.write_all(head.as_bytes()).await.unwrap();
                s.write_all(&vec![b'x'; body_len]).await.unwrap();
            }
        });
        let fetcher = MediaFetcher::new(MediaFetchSettings {
            allow_http: true,
            allow_private_networks: true,
            max_bytes: 1000,
            ..MediaFetchSettings::default()
        })
        .unwrap();
        let url = format!("http://{addr}/img.png");
        let media = fetcher.fetch_all(vec![url.clone()]).await.unwrap();
        let (mime, bytes) = media.get(&url).unwrap();
        assert_eq!(mime, "image/png");
        assert_eq!(bytes.as_ref(), b"xxxx");
        let err = fetcher.fetch_all(vec![url]).await.unwrap_err();
        assert!(err.to_string().contains("larger than 1000 bytes"), "{err}");
    }
}
