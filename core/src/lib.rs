pub fn placeholder() {}

pub mod volume;
