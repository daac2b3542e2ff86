//! Every text frame a live socket receives goes through `ClientMessage::parse`: whatever the
//! bytes, it answers (never panics), and what it accepts reads back the same from its own wire
//! form.
#![no_main]

use hail::domain::live::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 (the transport refuses others before Hail sees them).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = ClientMessage::parse(text) {
        let again = ClientMessage::parse(&message.to_json());
        assert_eq!(again.ok().as_ref(), Some(&message), "{text:?}");
    }
});
