//! Reading runs back and presenting them: figures ([`plot`]) and tables
//! of mean ± std over seeds ([`table`]).

pub mod plot;
pub mod runlog;
pub mod table;
