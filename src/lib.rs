//! mezhved: the interagency message gateway between case systems and SMEV 3.

pub mod xml;
pub mod xmldsig;
