//! rustls settings from a cluster's TLS settings, trusting what librdkafka
//! trusts for the same cluster: the cluster's CA when one is given, else the
//! system's trust store; with verification off, any certificate (the
//! handshake's signatures are still checked).

use std::sync::Arc;

use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        crypto::{CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature},
        pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
    },
};

use super::WireError;
use crate::clusters::Tls;

pub(super) fn connector(settings: &Tls) -> Result<TlsConnector, WireError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| WireError::Config(format!("TLS: {e}")))?;
    let config = if settings.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(settings.ca_pem.as_deref())?)
            .with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

fn roots(ca_pem: Option<&str>) -> Result<RootCertStore, WireError> {
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| WireError::Config(format!("tls.caPem: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| WireError::Config(format!("tls.caPem: {e}")))?;
            }
        }
        None => {
            // Certificates the system store holds but rustls cannot parse
            // are skipped, as OpenSSL skips them.
            let (added, _) =
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            tracing::debug!(added, "system trust store loaded");
        }
    }
    if roots.is_empty() {
        return Err(WireError::Config(
            "TLS: no trusted CA certificate (set tls.caPem)".into(),
        ));
    }
    Ok(roots)
}

/// Accepts any server certificate, for `insecureSkipVerify`.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
