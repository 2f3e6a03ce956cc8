//! mezhved: the interagency message gateway between case systems and SMEV 3.

pub mod clock;
pub mod emulator;
pub mod lookup;
pub mod request;
pub mod smev;
pub mod xml;
pub mod xmldsig;
