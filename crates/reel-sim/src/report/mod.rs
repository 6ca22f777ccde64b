//! What a run answers: the figures ([`analyse`]), the conservation checks
//! ([`conservation`]), sensitivity tables ([`sensitivity`]) and the report itself
//! ([`write`]: `report.md` and SVG charts, byte-identical for the same scenario and seed).

mod analysis;
mod books;
mod sensitivity;
mod write;

pub use analysis::{Analysis, Limits, OrchFigures, analyse};
pub use books::{Conservation, conservation};
pub use sensitivity::{SensitivityRow, sens_rounds, sensitivity};
pub use write::write;
