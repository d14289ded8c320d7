//! What crosses the wire: the codecs that carry Strata's table providers and plan nodes between the client, the
//! scheduler and the executors ([`codec`]), and the job service a client uses to submit job files and follow
//! their runs ([`job`]).

#![warn(missing_docs)]

pub mod codec;
pub mod job;

pub use codec::{StrataLogicalCodec, StrataPhysicalCodec};
