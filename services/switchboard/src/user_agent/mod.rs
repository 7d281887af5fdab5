//! The user agent: the transaction user (RFC 3261 §8.2) of every request outside a dialog.
//!
//! A new request reaches it from its server transaction ([`TxEvent`] with
//! [`TxEventKind::Request`]); the answer goes back through that transaction ([`Respond`]), so a
//! retransmitted request gets the same answer again (§17.2). The decisions are
//! [`UaCore::answer`]'s: the §8.2 rejections (405, 415, 416, 420, 501, …), 200 with the
//! capabilities for OPTIONS, 404 for an INVITE to nobody, 481 for the rest. It is the actor
//! the call engine plugs into later.

use std::sync::Arc;

use actix::{Actor, Context, Handler};
use sip::Method;
use tracing::{debug, info, info_span, warn};

use crate::dialog_layer::Dialogs;
use crate::stack::Services;
use crate::transaction_layer::{Respond, TxEvent, TxEventKind};
use crate::ua_core::UaCore;

/// The transaction user of requests outside any dialog (see the module documentation).
pub struct UserAgent {
    core: Arc<UaCore>,
    #[allow(dead_code)]
    services: Services,
    dialogs: Dialogs,
}

impl UserAgent {
    /// A user agent answering with `core`'s decisions, creating dialogs through `dialogs`.
    pub fn new(core: Arc<UaCore>, services: Services, dialogs: Dialogs) -> Self {
        UserAgent {
            core,
            services,
            dialogs,
        }
    }

    fn on_request(&mut self, event: &TxEvent, request: &sip::Request) {
        if request.method == Method::Ack {
            // The ACK matching an INVITE transaction in Accepted (RFC 6026 §8.7) belongs to
            // the dialog the 2xx created.
            self.dialogs.ack(request.clone(), event.flow);
            return;
        }
        let response = self.core.answer(request);
        debug!(status = response.status, "user agent answers");
        event.tx.do_send(Respond::plain(response));
    }
}

impl Actor for UserAgent {
    type Context = Context<Self>;
}

impl Handler<TxEvent> for UserAgent {
    type Result = ();

    fn handle(&mut self, event: TxEvent, _ctx: &mut Self::Context) {
        let span = info_span!("user_agent", call_id = %event.call_id, transaction = %event.key);
        let _entered = span.enter();
        match &event.kind {
            TxEventKind::Request(request) => self.on_request(&event, request),
            TxEventKind::Response(response) => {
                debug!(status = response.status, "response to a request of ours");
            }
            TxEventKind::Timeout => info!("transaction timed out (408)"),
            TxEventKind::TransportError => warn!("transaction failed: transport error (503)"),
            TxEventKind::Cancelled => info!("INVITE cancelled by the caller"),
            TxEventKind::Refused(status) => debug!(status, "transaction refused a response"),
            TxEventKind::Failed => warn!("transaction actor failed; its request is dropped"),
        }
    }
}
