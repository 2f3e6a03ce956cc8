//! Attachments of SMEV 3 messages.

pub mod ftp;
