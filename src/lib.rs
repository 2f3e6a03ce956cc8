//! mezhved: the interagency message gateway between case systems and SMEV 3.

pub mod adapter;
pub mod attachment;
pub mod calendar;
pub mod casefile;
pub mod clock;
pub mod config;
pub mod emulator;
pub mod failpoint;
pub mod i18n;
pub mod load;
pub mod logging;
pub mod lookup;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod provider;
pub mod registers;
pub mod request;
pub mod smev;
pub mod transport;
pub mod xml;
pub mod xmldsig;
pub mod xsd;
