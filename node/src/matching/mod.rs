//! Matching media against known hashes: the PDQ near-neighbour index (the engine of hash-list
//! matching; list versions and distribution build on it).

pub mod pdq_index;
