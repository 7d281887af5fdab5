//! `DtmfDigit` conversions.

use crate::dtmf::DtmfDigit;

#[test]
fn chars_and_event_codes_round_trip() {
    for (code, digit) in DtmfDigit::ALL.into_iter().enumerate() {
        assert_eq!(digit.event_code() as usize, code);
        assert_eq!(DtmfDigit::from_event_code(code as u8), Some(digit));
        assert_eq!(DtmfDigit::from_char(digit.to_char()), Some(digit));
        assert_eq!(
            DtmfDigit::from_char(digit.to_char().to_ascii_lowercase()),
            Some(digit)
        );
    }
    assert_eq!(DtmfDigit::from_event_code(10), Some(DtmfDigit::Star));
    assert_eq!(DtmfDigit::from_event_code(11), Some(DtmfDigit::Pound));
    assert_eq!(DtmfDigit::from_event_code(16), None);
    assert_eq!(DtmfDigit::from_char('E'), None);
    assert_eq!(DtmfDigit::Pound.to_string(), "#");
}

#[test]
fn keypad_positions_match_frequencies() {
    assert_eq!(DtmfDigit::D1.frequencies(), (697.0, 1209.0));
    assert_eq!(DtmfDigit::D5.frequencies(), (770.0, 1336.0));
    assert_eq!(DtmfDigit::D0.frequencies(), (941.0, 1336.0));
    assert_eq!(DtmfDigit::Star.frequencies(), (941.0, 1209.0));
    assert_eq!(DtmfDigit::Pound.frequencies(), (941.0, 1477.0));
    assert_eq!(DtmfDigit::D.frequencies(), (941.0, 1633.0));
    for digit in DtmfDigit::ALL {
        let (row, col) = digit.matrix_position();
        assert_eq!(DtmfDigit::from_matrix_position(row, col), Some(digit));
    }
}
