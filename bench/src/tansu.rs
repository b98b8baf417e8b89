//! A tansu broker for the Kafka benchmarks: in-memory storage on a free
//! loopback port, killed when dropped, plus clients configured for it.

use std::{
    net::TcpListener,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use rdkafka::{ClientConfig, config::FromClientConfig};
use tokio::process::{Child, Command};

pub struct Tansu {
    port: u16,
    _child: Child,
}

impl Tansu {
    /// Starts a broker and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("tcp://127.0.0.1:{port}");
        let home = std::env::var("HOME").unwrap_or_default();
        let path = std::env::var("PATH").unwrap_or_default();
        let child = Command::new("tansu")
            // `cargo install` puts tansu here, which a fresh shell may lack.
            .env("PATH", format!("{home}/.cargo/bin:{path}"))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start tansu (scripts/test installs it)")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("tansu did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            port,
            _child: child,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("log_level", "3");
        config
    }

    /// Any rdkafka client (admin, producer, consumer) for this broker.
    pub fn client<T: FromClientConfig>(&self) -> anyhow::Result<T> {
        Ok(self.config().create()?)
    }
}
