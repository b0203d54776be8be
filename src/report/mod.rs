//! Reading runs back and presenting them: figures ([`plot`]).

pub mod plot;
pub mod runlog;
