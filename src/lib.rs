//! MPMS
