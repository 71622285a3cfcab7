//! End-to-end tests of drake live in tests/*.rs.
