pub mod nodes;
pub mod schema;
