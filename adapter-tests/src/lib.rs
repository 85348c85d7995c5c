//! Not published: the tests that drive both adapters (`readiness-axum` and
//! `readiness-actix`) through the same scenarios live in `tests/`, so that what one
//! framework does the other is shown to do too.
