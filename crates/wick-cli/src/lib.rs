//! Library side of the `wick` command-line tool: what its commands and examples share.
#![warn(missing_docs)]

pub mod demo;
