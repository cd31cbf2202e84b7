//! Dataset catalogs: what tiles a Sen12MS or DeepGlobe tree holds, where, and of
//! which class.

pub mod classes;
pub mod regions;

pub use regions::{Region, Split};
