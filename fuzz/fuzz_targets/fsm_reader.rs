//! The `.fsm` reader on arbitrary bytes, bare and runtime-wrapped: it may
//! reject the input, never panic or allocate past its caps.
#![no_main]

use std::io::{BufReader, Read};

use ekvplan::testing::fsm;
use ekvplan::{FsmReader, StreamKind};
use libfuzzer_sys::fuzz_target;

fn drain<R: Read>(r: R) {
    let Ok(mut r) = FsmReader::new(r) else { return };
    while let Ok(Some(_)) = r.next_entry() {}
}

fuzz_target!(|data: &[u8]| {
    drain(data);
    let mut br = BufReader::new(data);
    if let Ok((kind, header)) = fsm::read_runtime_header(&mut br) {
        if kind == StreamKind::Payload {
            drain(br);
        } else {
            let mut crc = fsm::CrcFooterReader::new(br, &header);
            drain(&mut crc);
            let _ = crc.verify();
        }
    }
});
