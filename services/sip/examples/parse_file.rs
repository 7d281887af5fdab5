//! Parses SIP message files and prints the result: `cargo run -p sip --example parse_file -- FILE...`.

fn main() {
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(data) => {
                let parsed = sip::parse_message(bytes::Bytes::from(data));
                match parsed {
                    Ok(m) => match m.validate() {
                        Ok(()) => println!("{path}: ok"),
                        Err(e) => println!("{path}: parsed, invalid: {e}"),
                    },
                    Err(e) => println!("{path}: error: {e}"),
                }
            }
            Err(e) => println!("{path}: cannot read: {e}"),
        }
    }
}
