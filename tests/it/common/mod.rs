//! Helpers shared by the integration-test areas.

pub mod corpus;
pub mod run;
