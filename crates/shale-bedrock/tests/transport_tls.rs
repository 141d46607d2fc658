//! The transport's TLS, against a local TLS server: an `https` endpoint is reached over rustls,
//! the client offers HTTP/2 and HTTP/1.1 by ALPN, and a certificate no public root vouches for
//! (the committed self-signed `fixtures/untrusted-cert.pem`) is refused as a connection error
//! before any request byte is sent.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use shale_bedrock::{BedrockClient, BedrockError, Operation, TargetSpec};
use tokio::net::TcpListener;

const CERT: &[u8] = include_bytes!("fixtures/untrusted-cert.pem");
const KEY: &[u8] = include_bytes!("fixtures/untrusted-key.pem");

/// Accepts one TLS connection and reports the ALPN protocols the client offered and whether
/// the handshake completed.
async fn tls_server() -> (String, tokio::task::JoinHandle<(Vec<Vec<u8>>, bool)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(CERT).unwrap()],
        PrivateKeyDer::from_pem_slice(KEY).unwrap(),
    )
    .unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .unwrap();
        let offered: Vec<Vec<u8>> = start
            .client_hello()
            .alpn()
            .map(|protocols| protocols.map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let completed = start.into_stream(Arc::new(config)).await.is_ok();
        (offered, completed)
    });
    (url, task)
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_after_an_alpn_offer_of_h2_and_http11() {
    let (url, server) = tls_server().await;
    let client = BedrockClient::new(common::options()).unwrap();
    let target = client
        .target(TargetSpec {
            deployment: "d-tls".into(),
            model_id: "amazon.nova-lite-v1:0".into(),
            region: Some("us-east-1".into()),
            api_base: Some(url.clone()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            num_retries: Some(0),
            ..TargetSpec::default()
        })
        .await
        .unwrap();
    let err = client
        .call(
            &target,
            Operation::Converse,
            Bytes::from_static(b"{}"),
            &HeaderMap::new(),
        )
        .await
        .unwrap_err();
    let (offered, completed) = server.await.unwrap();
    assert_eq!(offered, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert!(!completed, "the client must not accept the certificate");
    match &err {
        BedrockError::Connect {
            deployment,
            message,
        } => {
            assert_eq!(deployment, "d-tls");
            assert!(message.contains("connection failed"), "{message}");
            assert!(message.to_lowercase().contains("certificate"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
