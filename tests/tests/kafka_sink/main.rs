//! Changefeeds into Kafka through the TiEM dialect: a real MariaDB binlog
//! replicated to a real (tansu) broker, read back with a Kafka consumer and
//! decoded as TiCDC's canal-json, maxwell and open protocol consumers would.

mod decode;
mod delivery;
mod helpers;
mod protocols;
mod tls;
