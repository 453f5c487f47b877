//! `ekvplan run` / `ekvplan verify`: runs a validated plan's jobs in
//! parallel with progress, reports, resume and sharding (issue 8).

pub mod cli;
