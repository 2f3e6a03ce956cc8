//! The official SMEV adapter's SOAP interface (`Send`, `Get`, `Find` in
//! `urn://x-artefacts-smev-gov-ru/services/service-adapter`), so that a
//! case system written for the adapter works with mezhved by a change of
//! URL.

mod server;
pub mod service;
mod settings;
pub mod soap;

pub use server::{AdapterError, Running, start};
pub use settings::{AdapterSettings, ItSystem, Rejects};
