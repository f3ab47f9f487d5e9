//! Codecs between the pipeline's forms of a value: CQL wire bytes → Arrow ([`decode`]),
//! Arrow → CQL wire bytes ([`encode`]), Arrow → text for CSV and JSON ([`text`]), text →
//! CQL wire bytes ([`parse`]), and the Arrow type of every CQL type ([`types`]). Each pair
//! is the other's inverse; `docs/types.md` lists every type in every format.

pub mod decode;
pub mod encode;
pub mod key;
pub mod parse;
pub mod text;
pub mod types;
