//! A TCP relay that a test can cut and restore, to part one process from a
//! server while every other process (and the same process's other
//! connections) still reaches it: a network partition between one worker and
//! the metadata store, say.
//!
//! While cut, every relayed connection is closed at once and new ones are
//! accepted and closed straight away, so the client sees what it sees when a
//! link drops (reset connections, refused handshakes) and not a hang.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A relay from a free port of 127.0.0.1 to `127.0.0.1:<target>`, alive
/// until dropped.
pub struct CuttableProxy {
    port: u16,
    /// `true` while the link is cut; every relayed connection watches it.
    cut: Arc<watch::Sender<bool>>,
    accept: JoinHandle<()>,
}

impl CuttableProxy {
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay's port");
        let port = listener.local_addr().expect("the relay's address").port();
        let cut = Arc::new(watch::channel(false).0);
        let target = SocketAddr::from(([127, 0, 0, 1], target));
        let accept = tokio::spawn(accept_loop(listener, target, cut.clone()));
        Self { port, cut, accept }
    }

    /// The port clients connect to instead of the target's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every relayed connection and refuses new ones until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Relays new connections again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, cut: Arc<watch::Sender<bool>>) {
    while let Ok((client, _)) = listener.accept().await {
        if *cut.borrow() {
            drop(client);
            continue;
        }
        tokio::spawn(relay(client, target, cut.subscribe()));
    }
}

/// Copies bytes both ways until either side closes or the link is cut.
async fn relay(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
