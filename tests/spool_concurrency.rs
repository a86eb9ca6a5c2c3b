//! The spool under concurrency and crashes, from the outside: separate CGI
//! processes writing parts of one upload, and processes killed mid-body.

mod common;

use std::sync::Arc;

use common::*;

fn chunk_req(id: &str, data: &[u8], part: usize, index: usize) -> Req {
    fu_chunk(id, "shared.bin", data, part, index)
}

/// Eight CGI processes at once, each sending every part in its own order,
/// so each part arrives eight times: the upload ends byte-identical and is
/// completed by exactly one request.
#[test]
fn eight_processes_one_upload_out_of_order_with_repeats() {
    let sb = Arc::new(Sandbox::new(Mode::Cgi));
    let id = "0b6c9a47-5d4e-4f3a-9e21-7a0c3d2b1e55";
    let part = 64 * 1024;
    let data = Arc::new(bytes(20 * part + 777, 7));
    let parts = data.len().div_ceil(part);
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (sb, data) = (sb.clone(), data.clone());
            std::thread::spawn(move || {
                let mut completions = 0;
                for k in 0..parts {
                    let index = (k * 5 + w * 3) % parts;
                    let (r, log) = sb.send_cgi_logged(&chunk_req(id, &data, part, index));
                    assert_eq!(r.status, 200, "{}", r.text());
                    completions += log.matches("complete,").count();
                }
                completions
            })
        })
        .collect();
    let completions: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(completions, 1, "the upload must be completed exactly once");
    sb.assert_stored(id, &data);
    sb.assert_nothing_escapes();
}

/// A process killed in the middle of a part's body leaves the part
/// unrecorded and the upload resumable; resending ends byte-identical.
#[test]
fn a_process_killed_mid_part_leaves_the_upload_resumable() {
    let sb = Sandbox::new(Mode::Cgi);
    let id = "5f0e3a8c-1b2d-4c6e-8f90-a1b2c3d4e5f6";
    let part = 256 * 1024;
    let data = bytes(3 * part, 9);
    assert_eq!(sb.send(&chunk_req(id, &data, part, 0)).status, 200);

    let req = chunk_req(id, &data, part, 1);
    sb.kill_cgi_mid_body(
        &req,
        req.body.len() / 2,
        std::time::Duration::from_millis(200),
    );

    let info = sb.info(id).expect("the upload survives");
    assert_eq!(info["complete"], false);
    assert_eq!(
        info["received"], part as u64,
        "the killed part must not be recorded"
    );
    for i in 1..3 {
        assert_eq!(sb.send(&chunk_req(id, &data, part, i)).status, 200);
    }
    sb.assert_stored(id, &data);
    sb.assert_nothing_escapes();
}

/// A simple upload killed mid-body leaves nothing under its id.
#[test]
fn a_process_killed_mid_simple_upload_stores_nothing() {
    let sb = Sandbox::new(Mode::Cgi);
    let id = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
    let data = bytes(512 * 1024, 3);
    let form = Form::new()
        .field("qquuid", id)
        .field("qqfilename", "s.bin")
        .file("qqfile", "s.bin", "application/octet-stream", &data);
    let req = Req::new("POST").xhr().form(form);
    sb.kill_cgi_mid_body(
        &req,
        req.body.len() / 3,
        std::time::Duration::from_millis(200),
    );
    sb.assert_absent(id);
    assert_eq!(sb.send(&req).status, 200);
    sb.assert_stored(id, &data);
}
