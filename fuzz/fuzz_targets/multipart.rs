//! The streaming multipart reader: any body, read part by part to the end.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use upspool::protocol::multipart::Multipart;

fuzz_target!(|data: &[u8]| {
    let body: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    let mut form = Multipart::new(body, "XB".into());
    for _ in 0..64 {
        match form.next_part() {
            Ok(Some(mut part)) => {
                if part.is_file() {
                    let mut sink = Vec::new();
                    let _ = part.read_to_end(&mut sink);
                } else {
                    let _ = part.text(64 * 1024);
                }
            }
            _ => break,
        }
    }
});
