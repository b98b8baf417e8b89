//! A throwaway CA for TLS tests, and a TLS front for a plaintext broker, so
//! tests can check that ferry reaches a cluster over TLS. tansu 0.6.0 has no TLS listener of its own; the proxy
//! terminates TLS with a certificate signed by a throwaway CA and forwards
//! the bytes to the broker unchanged. The broker advertises the proxy's port,
//! so every connection a client makes after bootstrap goes through TLS too.

use std::{net::SocketAddr, sync::Arc};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::oneshot,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::ring,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

/// A certificate authority made for one test run.
pub struct TestCa {
    /// The CA certificate in PEM, as a client's trusted root.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost`, and its key.
    fn issue(&self) -> (rcgen::Certificate, KeyPair) {
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        (cert, key)
    }

    fn server_cert(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let (cert, key) = self.issue();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// A server certificate and its key in PEM, for servers that read them
    /// from files (MariaDB's `--ssl-cert` and `--ssl-key`).
    pub fn server_pem(&self) -> (String, String) {
        let (cert, key) = self.issue();
        (cert.pem(), key.serialize_pem())
    }
}

/// A running proxy; it stops accepting when dropped.
pub struct TlsProxy {
    _stop: oneshot::Sender<()>,
}

impl TlsProxy {
    /// Accepts TLS on `listen` and forwards every connection to `upstream`.
    /// The proxy runs on a thread of its own, so it serves whichever runtime
    /// (or none) the test uses.
    pub fn start(ca: &TestCa, listen: SocketAddr, upstream: SocketAddr) -> Self {
        let (cert, key) = ca.server_cert();
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind(listen).expect("bind the TLS proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    _ = stopped => {}
                    _ = serve(listener, acceptor, upstream) => {}
                }
            });
        });
        Self { _stop: stop }
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, upstream: SocketAddr) {
    while let Ok((socket, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A client that refuses our certificate ends its handshake here;
            // that is the point of some tests, not a proxy failure.
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            let Ok(mut broker) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = copy_bidirectional(&mut tls, &mut broker).await;
        });
    }
}
