//! GPU engine.
