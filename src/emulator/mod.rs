//! The SMEV 3 emulator testers run: real HTTP, real signatures, answers
//! from the register data under `fixtures/`.

pub mod data;

pub use data::{FixtureSubject, Fixtures, ProviderAnswer};
