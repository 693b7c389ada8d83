//! Device pairing: which signed devices may connect, with which role and
//! scopes, and the device tokens they are issued.

mod records;

pub use records::{
    DeviceTokenRecord, PairedDevice, PairingChange, PairingSnapshot, PendingRequest,
};
