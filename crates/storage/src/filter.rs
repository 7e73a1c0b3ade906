//! Filter evaluation (being written).
