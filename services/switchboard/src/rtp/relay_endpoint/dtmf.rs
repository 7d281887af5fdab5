//! DTMF between the relay and the call's owner: digits a leg's peer sent by SIP INFO come in
//! ([`InfoDigit`]), and digits for a leg whose DTMF mode is INFO go out ([`LegDtmf`]), since
//! only the owner (the call engine) can send a request in that leg's dialog.

use std::time::Instant;

use actix::{Context, Handler, Message, Recipient};
use media::dtmf::{DtmfEvent, DtmfMode, DtmfSource};
use media::relay::LegId;
use tracing::{info, warn};

use super::{RelayEndpoint, leg_index, leg_name};
use crate::dialog_layer::{dtmf_event, source_name};

/// A leg's peer sent `event` by SIP INFO (the call engine answered the INFO): the relay
/// reports it and renders it to the other leg in that leg's DTMF mode.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct InfoDigit {
    /// The leg whose peer sent the INFO.
    pub leg: LegId,
    /// The digit (its source is taken as SIP INFO).
    pub event: DtmfEvent,
}

/// To the call's owner: send `event` as a SIP INFO in `leg`'s dialog (the leg's DTMF mode is
/// INFO; the digit came from the other leg in another form, or by INFO too).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct LegDtmf {
    /// The call (leg A's Call-ID).
    pub call_id: String,
    /// The leg to send the INFO to.
    pub leg: LegId,
    /// The digit; `duration_ms` is how long it was held on the other leg.
    pub event: DtmfEvent,
}

/// A leg's [`LegConfig::dtmf_mode`](media::relay::LegConfig::dtmf_mode) from its endpoint's
/// or trunk's stored mode ([`store::Store::endpoint_dtmf_mode`]).
pub fn leg_dtmf_mode(stored: store::DtmfMode) -> DtmfMode {
    match stored {
        store::DtmfMode::Rfc4733 => DtmfMode::Rfc4733,
        store::DtmfMode::Info => DtmfMode::Info,
        store::DtmfMode::Inband => DtmfMode::Inband,
    }
}

impl RelayEndpoint {
    /// Names the actor that sends SIP INFO for legs whose DTMF mode is INFO (the call
    /// engine); without one such digits are logged and dropped.
    pub fn with_owner(mut self, owner: Recipient<LegDtmf>) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Publishes a digit in the shape SIP INFO and echo digits have, with the dialog of the
    /// leg whose peer pressed the key. Digits that came by SIP INFO are only logged: the
    /// dialog actor that answered the INFO published them already.
    pub(super) fn publish_dtmf(&self, leg: LegId, event: &DtmfEvent) {
        info!(
            call_id = %self.setup.call_id,
            leg = leg_name(leg),
            digit = %event.digit,
            duration_ms = event.duration_ms,
            source = source_name(event.source),
            "DTMF"
        );
        if event.source == DtmfSource::SipInfo {
            return;
        }
        let dialog = &self.setup.dialogs[leg_index(leg)];
        self.publish(dtmf_event(&self.setup.call_id, dialog, event));
    }

    /// Hands a digit for an INFO leg to the owner.
    pub(super) fn send_info(&self, leg: LegId, event: DtmfEvent) {
        let Some(owner) = &self.owner else {
            warn!(call_id = %self.setup.call_id, leg = leg_name(leg), digit = %event.digit,
                "DTMF for a leg in INFO mode, but the relay has no owner to send the INFO");
            return;
        };
        let msg = LegDtmf {
            call_id: self.setup.call_id.clone(),
            leg,
            event,
        };
        if owner.try_send(msg).is_err() {
            warn!(call_id = %self.setup.call_id, leg = leg_name(leg), digit = %event.digit,
                "the call's owner is gone or full; DTMF INFO not sent");
        }
    }
}

impl Handler<InfoDigit> for RelayEndpoint {
    type Result = ();

    fn handle(&mut self, msg: InfoDigit, ctx: &mut Context<Self>) {
        let actions = self
            .session
            .on_info_digit(msg.leg, msg.event, Instant::now());
        self.apply(actions);
        self.schedule(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_modes_map_to_leg_modes_by_name() {
        for stored in store::DtmfMode::ALL {
            assert_eq!(leg_dtmf_mode(stored).name(), stored.as_str());
        }
    }
}
