//! Where input bytes come from. Each source yields inputs as (origin, bytes).

pub mod files;
pub mod imap;
pub mod watch;
